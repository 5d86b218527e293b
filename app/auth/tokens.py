"""Signed, expiring tokens bound to account state, and the one-time code from the verification mail."""
import hashlib
import hmac
import secrets
import time

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.extensions import db
from app.models import User

VERIFY, RESET = "verify", "reset"
CODE_ATTEMPTS = 5


def _serializer(purpose):
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"auth-{purpose}")


def _max_age(purpose):
    return current_app.config["VERIFY_TOKEN_MAX_AGE" if purpose == VERIFY else "RESET_TOKEN_MAX_AGE"]


def _state(user, purpose):
    """What the action changes: verifying sets verified_at, a reset replaces the password hash.

    Hashed, so the token (base64, readable by anyone) carries neither the address nor the hash itself.
    Verify also binds the password hash, so registering again (new password) retires older links.
    """
    if purpose == VERIFY:
        material = f"{user.email.lower()}|{user.verified_at}|{user.password_hash}"
    else:
        material = user.password_hash
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def make_token(user, purpose):
    return _serializer(purpose).dumps([user.id, _state(user, purpose)])


def load_token(token, purpose):
    """The user the token is for, or None when it is expired, tampered with or already used."""
    try:
        user_id, state = _serializer(purpose).loads(token, max_age=_max_age(purpose))
        user = db.session.get(User, int(user_id))
    except (BadSignature, TypeError, ValueError):
        return None
    if user is None or not hmac.compare_digest(str(state), _state(user, purpose)):
        return None
    return user


def issue_code(user):
    """Start a new code with a fresh attempt budget; any earlier code stops working (caller commits).

    Only a random nonce and its issue time are stored; the code is derived from them with SECRET_KEY,
    so the database or a backup alone reveals nothing, and every send of the same mail (a retry after an
    ambiguous SMTP failure included) renders the same code, so a code the user already holds stays valid.
    """
    user.verify_code_nonce = f"{int(time.time())}${secrets.token_hex(16)}"
    user.verify_code_attempts = 0


def current_code(user):
    """The 6 digits for the mail, or None when no code is outstanding (verified, or never issued)."""
    if user is None or user.verify_code_nonce is None:
        return None
    message = f"verify-code|{user.id}|{user.verify_code_nonce}".encode()
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), message, hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**6:06d}"


def check_code(user, code):
    """True for the current, unexpired code; every wrong try spends one of CODE_ATTEMPTS (caller commits)."""
    expected = current_code(user)
    if expected is None or user.verify_code_attempts >= CODE_ATTEMPTS:
        return False
    if time.time() - int(user.verify_code_nonce.partition("$")[0]) > _max_age(VERIFY):
        return False
    if hmac.compare_digest(expected, (code or "").strip()):
        return True
    user.verify_code_attempts += 1
    return False
