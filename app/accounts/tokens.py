"""Signed, expiring tokens bound to account state, and the one-time code from the verification mail."""
import hashlib
import hmac
import secrets
import time

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.extensions import db
from app.models import User

VERIFY, RESET, EMAIL = "verify", "reset", "email"
CODE_ATTEMPTS = 5


def _serializer(purpose):
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"auth-{purpose}")


def _max_age(purpose):
    return current_app.config["RESET_TOKEN_MAX_AGE" if purpose == RESET else "VERIFY_TOKEN_MAX_AGE"]


def _state(user, purpose):
    """What the action changes: verifying sets verified_at, a reset replaces the password hash.

    Hashed, so the token (base64, readable by anyone) carries neither the address nor the hash itself.
    Verify also binds the address and password hash. A change of address binds the current address,
    password and session token: using one link retires the others, and "log out other sessions" retires a
    change someone else asked for from a borrowed session. A reset binds the same three, so a link mailed
    before the address moved, or before "log out other sessions", opens nothing.
    """
    if purpose == EMAIL:
        material = f"{user.email.lower()}|{user.password_hash}|{user.session_token}"
    elif purpose == VERIFY:
        material = f"{user.email.lower()}|{user.verified_at}|{user.password_hash}"
    else:
        material = f"{user.email.lower()}|{user.password_hash}|{user.session_token}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def make_token(user, purpose):
    return _serializer(purpose).dumps([user.id, _state(user, purpose)])


def load_token(token, purpose):
    """The user the token is for, or None when it is expired, tampered with, already used or disabled."""
    try:
        user_id, state = _serializer(purpose).loads(token, max_age=_max_age(purpose))
        user = db.session.get(User, int(user_id))
    except (BadSignature, TypeError, ValueError):
        return None
    if not _current(user, state, purpose):
        return None
    return user


def _current(user, state, purpose):
    """The account exists, is not disabled, and is still in the state the link was minted for."""
    return (user is not None and user.disabled_at is None
            and hmac.compare_digest(str(state), _state(user, purpose)))


def make_email_token(user, new_email):
    """The link that moves the account to new_email: signed, so the address in it cannot be swapped."""
    return _serializer(EMAIL).dumps([user.id, _state(user, EMAIL), new_email])


def email_change_state(user):
    """What an address-change link is bound to (no secret: a digest); the outbox checks it has not moved."""
    return _state(user, EMAIL)


def load_email_token(token):
    """(user, new address) while the link is valid for the account as it is now, else (None, None)."""
    try:
        user_id, state, new_email = _serializer(EMAIL).loads(token, max_age=_max_age(EMAIL))
        user = db.session.get(User, int(user_id))
    except (BadSignature, TypeError, ValueError):
        return None, None
    if not _current(user, state, EMAIL):
        return None, None
    return user, str(new_email)


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
