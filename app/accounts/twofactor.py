"""Second factors: an authenticator app (TOTP) and the recovery codes that stand in for a lost one.

The TOTP secret is stored encrypted (Fernet) under a key derived from SECRET_KEY, so a backup alone
does not give the codes; recovery codes are stored as HMACs under another derived key. A code is used
once: the last accepted time step is kept, and an earlier or equal step is refused (RFC 6238 §5.2).
Rotating SECRET_KEY therefore turns every authenticator off (the owners sign in with a recovery code
or a passkey, or reset it by mail and enrol again).
"""
import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import delete, func, select

from app import outbox
from app.extensions import db
from app.models import Event, Passkey, RecoveryCode, User, utcnow
from app.security import derived_key

RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read from paper and typed again


def _fernet():
    return Fernet(base64.urlsafe_b64encode(derived_key("totp secrets")))


def new_secret():
    return pyotp.random_base32()


def seal(secret):
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed):
    """The secret, or None when SECRET_KEY changed since it was stored (the factor is then unusable)."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        return None


def provisioning_uri(user, secret):
    """otpauth:// for the app: the site's host names the entry, the address the account."""
    issuer = urlsplit(current_app.config["BASE_URL"]).hostname
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_svg(uri):
    """The QR code as inline SVG markup, drawn here: the secret never leaves the server for a picture."""
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff", omitsize=False)


def matching_step(secret, code, after=None, now=None):
    """The time step (±1 around now) whose code is `code`, if later than `after`; else None."""
    code = "".join(code.split())
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now or time.time()) // totp.interval)
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def has_totp(user):
    return user.totp_enabled_at is not None


def passkey_count(user):
    return db.session.scalar(select(func.count()).select_from(Passkey).where(Passkey.user_id == user.id))


def has_second_factor(user):
    """An authenticator app or a passkey: then a password alone opens nothing."""
    return has_totp(user) or passkey_count(user) > 0


def enable_totp(user, secret, step):
    """Turn the app on with the secret its first code proved; returns the recovery codes when the account had none."""
    user.totp_secret, user.totp_last_step, user.totp_enabled_at = seal(secret), step, utcnow()
    Event.record(Event.TWO_FACTOR_ENABLED, user=user, detail="totp")
    notice(user, "totp_enabled")
    codes = None if recovery_codes_left(user) else new_recovery_codes(user)
    db.session.commit()
    outbox.wake()
    return codes


def disable_totp(user):
    user.totp_secret = user.totp_last_step = user.totp_enabled_at = None
    Event.record(Event.TWO_FACTOR_DISABLED, user=user, detail="totp")
    notice(user, "totp_disabled")
    forget_recovery_codes_unless_needed(user)
    db.session.commit()
    outbox.wake()


def check_totp(user, code):
    """True when `code` is the app's code for now (±30 s) and was not used before; it is then used."""
    secret = unseal(user.totp_secret) if has_totp(user) else None
    step = matching_step(secret, code, after=user.totp_last_step) if secret else None
    if step is None:
        return False
    # Compare-and-set: of two requests with the same code at the same moment, one wins.
    won = db.session.execute(
        db.update(User).where(User.id == user.id, (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    db.session.refresh(user)
    return won == 1


# Recovery codes

def _code_hash(code):
    normalised = "".join(ch for ch in code.lower() if ch.isalnum())
    return hmac.new(derived_key("recovery codes"), normalised.encode(), hashlib.sha256).hexdigest()


def new_recovery_codes(user):
    """Ten fresh codes (the old ones stop working), returned once for the owner to keep; the caller commits."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_code_hash(codes[-1])))
    return codes


def recovery_codes_left(user):
    return db.session.scalar(select(func.count()).select_from(RecoveryCode)
                             .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))


def use_recovery_code(user, code):
    """True when `code` is one of the account's unused recovery codes; it is then spent and the owner told."""
    if len(code) > 32:
        return False
    spent = db.session.execute(
        db.update(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None),
                                      RecoveryCode.code_hash == _code_hash(code))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if spent != 1:
        db.session.rollback()
        return False
    Event.record(Event.RECOVERY_CODE_USED, user=user)
    notice(user, "recovery_code_used", left=recovery_codes_left(user))
    db.session.commit()
    outbox.wake()
    return True


def forget_recovery_codes_unless_needed(user):
    """With no second factor left, the codes stand in for nothing: they go (the caller commits)."""
    db.session.flush()
    if not has_second_factor(user):
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def notice(user, event, **params):
    """A security notice (factor added or removed, recovery code used): never held back by the mailbox cap."""
    outbox.compose("security_notice", user.email, user=user, event=event, **params)
