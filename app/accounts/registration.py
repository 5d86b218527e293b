"""What the auth views do, one function per action: each commits its rows, then wakes the mail worker."""
from sqlalchemy import func, or_, select

from app import i18n, outbox, ratelimit
from app.accounts import passwords, sessions, tokens, twofactor
from app.extensions import db
from app.models import Event, User, utcnow


def find_by_email(email):
    """Addresses are stored lower-cased by the forms; lower() on the column still finds older mixed-case rows."""
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def find_by_login(login):
    login = login.strip().lower()
    return db.session.scalar(select(User).where(or_(func.lower(User.email) == login,
                                                    func.lower(User.username) == login)))


def register(username, email, password):
    """Same outcome seen from outside whether the address is new, waiting or taken: one mail, one redirect.

    A new address gets an account and a verification mail. One waiting for confirmation keeps its first
    username and password (a second sign-up must not choose the password of an account it cannot
    confirm) and gets a fresh mail, which says so when the second sign-up typed another password: the
    owner confirms, then resets a forgotten password. A verified one gets a "someone tried to sign up"
    mail and nothing else changes. Each path costs one password hash.
    Returns the outbox row of that one mail (the "check your inbox" page shows its state).
    """
    user = find_by_email(email)
    if user is not None and user.is_verified:
        passwords.burn_time(password)
        row = outbox.compose("already_registered", user.email, user=user)
    elif user is not None:
        row = verification_mail(user, again=not passwords.verify_password(user.password_hash, password))
    else:
        user = User(email=email, username=username, password_hash=passwords.hash_password(password),
                    language=i18n.chosen_language())  # a switcher choice made before; None: Accept-Language
        db.session.add(user)
        Event.record(Event.REGISTERED, user=user)  # once per account, so the statistics count people
        row = verification_mail(user)
    db.session.commit()
    outbox.wake()
    return row


def verification_mail(user, **params):
    """A new code (older ones stop working); the worker mints the link and renders the code when it sends."""
    tokens.issue_code(user)
    return outbox.compose("verify", user.email, user=user, **params)


def resend(email):
    """A fresh verification mail for an unverified account (its row); nothing for any other address (None)."""
    user = find_by_email(email)
    if user is None or user.is_verified or user.disabled_at is not None:
        return None
    row = verification_mail(user)
    db.session.commit()
    outbox.wake()
    return row


def forgot(email):
    user = find_by_email(email)
    if user is None or user.disabled_at is not None:
        return
    outbox.compose("reset", user.email, user=user)
    db.session.commit()
    outbox.wake()


def mark_verified(user):
    """Verified once: the stored code is spent and every verification link stops matching the new state."""
    if not user.is_verified:
        user.verified_at = utcnow()
        Event.record(Event.VERIFIED, user=user)
    user.verify_code_nonce, user.verify_code_attempts = None, 0


def verify(user):
    mark_verified(user)
    db.session.commit()


def verify_code(email, code):
    """The account when the code is right; a wrong code spends one of the code's attempts."""
    user = find_by_email(email)
    if user is None or user.is_verified or user.disabled_at is not None or not ratelimit.code_budget_left(user):
        return None
    if not tokens.check_code(user, code):
        ratelimit.code_failed(user)
        db.session.commit()
        return None
    verify(user)
    return user


def reset_password(user, password):
    """A new hash retires the reset link; the link came through the mailbox, so the address is verified too.

    Every session of the account ends (whoever knew the old password is out) and the owner is told.
    Whoever holds the mailbox owns the account: its failed logins (and so its captcha and lock) are cleared.
    """
    user.password_hash = passwords.hash_password(password)
    mark_verified(user)
    sessions.end_all(user)
    Event.record(Event.PASSWORD_CHANGED, user=user, detail="reset")
    password_notice(user, reset=True)
    db.session.commit()
    ratelimit.clear_failed_logins(user)
    outbox.wake()


def password_notice(user, reset):
    """Sent after every change of password, so an owner who did not make it can take the account back."""
    outbox.compose("password_changed", user.email, user=user, reset=reset)


def authenticate(login, password):
    """(user, None) on success, (user or None, reason) otherwise; unknown and wrong cost the same time.

    Wrong tries are counted per account (app.ratelimit): a few bring in the captcha, many a 429. A right
    password of an account with a second factor answers "second_factor": nothing is recorded until
    that step is done too (`signed_in`).
    """
    user = find_by_login(login)
    if user is None:
        passwords.burn_time(password)
        reason = "unknown"
    elif not passwords.verify_password(user.password_hash, password):
        reason = "password"
    elif user.disabled_at is not None:  # after the password check: only the password's holder learns it
        reason = "disabled"
    elif not user.is_verified:
        reason = "unverified"
    else:
        reason = "second_factor" if twofactor.has_second_factor(user) else None
        if passwords.needs_rehash(user.password_hash):  # parameters were raised since this hash was made
            user.password_hash = passwords.hash_password(password)
    if reason in ("unknown", "password"):
        ratelimit.login_failed(ratelimit.login_subject(login))
    if reason is None:
        signed_in(user)
    elif reason != "second_factor":
        Event.record(Event.LOGIN_FAILED, user=user if reason != "unknown" else None, detail=reason)
    db.session.commit()
    return user, reason


def signed_in(user, how=None):
    """Record a completed sign-in (the caller commits); `how` names a way other than the password alone."""
    user.last_login_at = utcnow()
    Event.record(Event.LOGIN_OK, user=user, detail=how)
