"""Accounts at other providers: sign in with one, sign up with one, link and unlink.

The classic hole is an account taken over through a provider that vouches for an address it never
checked. So an identity is linked to an existing account automatically only when the provider says
the address is verified and it is the address of a verified account here; otherwise the person proves
the address by our own mail first (`sign_up_unverified`), exactly as a sign-up with a password does.
"""
import re
import secrets

from flask import current_app
from sqlalchemy import func, select

from app import i18n, outbox, ratelimit
from app.accounts import passwords, registration, twofactor
from app.extensions import db
from app.models import Event, Identity, User, utcnow

USERNAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_-]+")


def find(provider, subject):
    return db.session.scalar(select(Identity).where(Identity.provider == provider, Identity.subject == subject))


def listed(user):
    return db.session.scalars(select(Identity).where(Identity.user_id == user.id).order_by(Identity.created_at)).all()


def resolve(person):
    """(user, outcome) for a sign-in through `provider`: who it opens, or why it opens no one.

    Outcomes: "linked" (known identity), "linked_now" (a verified account with the address the provider
    verified), "created" (a new account, verified by the provider), "needs_address" (the provider did not
    verify an address: ours must), "limited" (too many sign-ups from this network), "unverified" (the
    identity's account still waits for its mail), "disabled".
    """
    identity = find(person.provider, person.subject)
    if identity is not None:
        user = identity.user
        if user.disabled_at is not None:
            return user, "disabled"
        if not user.is_verified:
            return user, "unverified"
        identity.last_used_at = utcnow()
        db.session.commit()
        return user, "linked"
    if not (person.email_verified and person.email):
        return None, "needs_address"
    owner = registration.find_by_email(person.email)
    if owner is not None and owner.is_verified:
        if owner.disabled_at is not None:
            return owner, "disabled"
        link(owner, person)
        return owner, "linked_now"
    if not ratelimit.provider_sign_up_allowed():
        return None, "limited"
    if owner is not None:  # an unconfirmed sign-up gives way: the provider proved the mailbox, as a link would
        db.session.delete(owner)
        db.session.flush()
    user = new_account(person, verified=True)
    db.session.commit()
    return user, "created"


def new_account(person, verified, username=None, email=None):
    """An account without a password (it signs in through the provider; it may set one later); the caller commits."""
    user = User(username=username or free_username(person), email=email or person.email,
                password_hash=passwords.NO_PASSWORD, verified_at=utcnow() if verified else None,
                language=i18n.chosen_language())
    db.session.add(user)
    db.session.flush()
    db.session.add(Identity(user_id=user.id, provider=person.provider, subject=person.subject,
                            email=person.email, last_used_at=utcnow() if verified else None))
    Event.record(Event.REGISTERED, user=user, detail=f"provider:{person.provider}")
    if verified:
        Event.record(Event.VERIFIED, user=user)
    return user


def free_username(person):
    """A username from the provider's name or address, made valid and unique (a digit suffix when taken)."""
    base = USERNAME_CHARACTERS.sub("", (person.name or (person.email or "").partition("@")[0] or "user"))[:24]
    base = base if len(base) >= 3 else f"user{base}"
    candidate = base
    while db.session.scalar(select(User.id).where(func.lower(User.username) == candidate.lower())) is not None:
        candidate = f"{base}{secrets.randbelow(10_000)}"
    return candidate


def sign_up_unverified(person, username, email):
    """The provider did not check an address: the person types one and confirms it by our mail.

    Seen from outside it is a sign-up: a new address gets an account (linked to the identity, no password)
    and a verification mail; an address that is waiting or taken gets what a password sign-up would get,
    and the identity is linked to nothing, so that no one's account is taken over. Returns the mail's row.
    """
    owner = registration.find_by_email(email)
    if owner is not None:
        return registration.register(username, email, secrets.token_urlsafe(24))
    passwords.burn_time(None)  # register() hashes once on every path: the answer's time must not tell which
    user = new_account(person, verified=False, username=username, email=email)
    row = registration.verification_mail(user)
    db.session.commit()
    outbox.wake()
    return row


def link(user, person):
    """Link an identity to a signed-in (or provider-verified) account, and tell the owner; commits."""
    db.session.add(Identity(user_id=user.id, provider=person.provider, subject=person.subject, email=person.email,
                            last_used_at=utcnow()))
    Event.record(Event.PROVIDER_LINKED, user=user, detail=person.provider)
    twofactor.notice(user, "provider_linked", name=label(person.provider))
    db.session.commit()
    outbox.wake()


def label(provider):
    """The provider's name as people know it (OIDC_<NAME>_LABEL), also for one no longer configured."""
    return current_app.config["OIDC_PROVIDERS"].get(provider, {}).get("LABEL", provider)


def ways_in(user):
    """How many ways the account has to sign in: its password, each linked provider and each passkey."""
    return int(passwords.has_password(user)) + len(listed(user)) + twofactor.passkey_count(user)


def unlink(user, identity_id):
    """Unlink one identity; False when there is none, None when it is the account's only way in."""
    identity = db.session.scalar(select(Identity).where(Identity.id == identity_id, Identity.user_id == user.id))
    if identity is None:
        return False
    if ways_in(user) <= 1:
        return None
    db.session.delete(identity)
    Event.record(Event.PROVIDER_UNLINKED, user=user, detail=identity.provider)
    twofactor.notice(user, "provider_unlinked", name=label(identity.provider))
    db.session.commit()
    outbox.wake()
    return identity
