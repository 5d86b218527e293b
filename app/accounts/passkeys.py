"""Passkeys (WebAuthn, py_webauthn): add one to an account, sign in with one, or use one as the second step.

The relying party is BASE_URL: its host is the RP id and its origin the only one accepted, so a passkey
made here works nowhere else and a copy of the site on another host cannot use it. Every ceremony
requires user verification (a PIN or a fingerprint on the device), so a passkey is two factors in one.
The challenge of a ceremony lives in the session and is used once.
"""
import json
from urllib.parse import urlsplit

import webauthn
from flask import current_app, session
from sqlalchemy import select
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria, PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement, UserVerificationRequirement)

from app import outbox
from app.accounts import twofactor
from app.extensions import db
from app.models import Event, Passkey, utcnow
from app.security import derived_key

CHALLENGE_KEY = "passkey_challenge"
MAX_PASSKEYS = 20  # per account: a list anyone can read at a glance


class Refused(Exception):
    """The browser's answer does not prove what it should (wrong challenge, origin, key or no verification)."""


def relying_party():
    base = urlsplit(current_app.config["BASE_URL"])
    return base.hostname, f"{base.scheme}://{base.netloc}"


def user_handle(user):
    """The opaque id the authenticator stores for the account: derived, so that no column is needed."""
    return derived_key(f"passkey user {user.id}")[:16]


def registration_options(user):
    rp_id, _ = relying_party()
    existing = db.session.scalars(select(Passkey.credential_id).where(Passkey.user_id == user.id)).all()
    options = webauthn.generate_registration_options(
        rp_id=rp_id, rp_name=rp_id, user_name=user.email, user_display_name=user.username,
        user_id=user_handle(user),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED, user_verification=UserVerificationRequirement.REQUIRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(c)) for c in existing])
    session[CHALLENGE_KEY] = bytes_to_base64url(options.challenge)
    return json.loads(webauthn.options_to_json(options))


def add(user, credential, name):
    """Verify the browser's new credential and keep it; raises Refused."""
    rp_id, origin = relying_party()
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=_take_challenge(), expected_rp_id=rp_id,
            expected_origin=origin, require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise Refused(str(exc)) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)) is not None:
        raise Refused("this passkey is already registered")
    passkey = Passkey(user_id=user.id, credential_id=credential_id, public_key=verified.credential_public_key,
                      sign_count=verified.sign_count, name=name)
    db.session.add(passkey)
    Event.record(Event.PASSKEY_ADDED, user=user)
    twofactor.notice(user, "passkey_added", name=name)
    db.session.commit()
    outbox.wake()
    return passkey


def remove(user, passkey_id):
    passkey = db.session.scalar(select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id))
    if passkey is None:
        return None
    db.session.delete(passkey)
    Event.record(Event.PASSKEY_REMOVED, user=user)
    twofactor.notice(user, "passkey_removed", name=passkey.name)
    twofactor.forget_recovery_codes_unless_needed(user)
    db.session.commit()
    outbox.wake()
    return passkey


def listed(user):
    return db.session.scalars(select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.created_at)).all()


def authentication_options(user=None):
    """Options for signing in: any passkey of this site (discoverable), or only `user`'s for a second step."""
    rp_id, _ = relying_party()
    allowed = None
    if user is not None:
        allowed = [PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(p.credential_id)) for p in listed(user)]
    options = webauthn.generate_authentication_options(
        rp_id=rp_id, allow_credentials=allowed, user_verification=UserVerificationRequirement.REQUIRED)
    session[CHALLENGE_KEY] = bytes_to_base64url(options.challenge)
    return json.loads(webauthn.options_to_json(options))


def authenticate(credential, user=None):
    """The passkey the browser's signed answer proves (of `user`, if given); raises Refused."""
    rp_id, origin = relying_party()
    challenge = _take_challenge()
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    query = select(Passkey).where(Passkey.credential_id == str(credential_id))
    if user is not None:
        query = query.where(Passkey.user_id == user.id)
    passkey = db.session.scalar(query) if credential_id else None
    if passkey is None:
        raise Refused("no such passkey")
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=passkey.public_key, credential_current_sign_count=passkey.sign_count,
            require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise Refused(str(exc)) from None
    passkey.sign_count, passkey.last_used_at = verified.new_sign_count, utcnow()
    db.session.commit()
    return passkey


def _take_challenge():
    """The challenge of the ceremony under way, once: a replayed answer finds none."""
    challenge = session.pop(CHALLENGE_KEY, None)
    if not challenge:
        raise Refused("no ceremony under way")
    return webauthn.base64url_to_bytes(challenge)
