"""Sessions that end: every cookie names the account's session token and one login row, both must be current.

The session cookie and the remember cookie both carry `User.get_id()`, "<token hash>.<login secret>",
never the row id, and the database holds neither (app.models.session_hash). Logging out deletes this browser's login row only, so a copy of its cookies opens
nothing afterwards while other devices stay logged in. "Log out other sessions", a new password or
address and a password reset replace the token (as Flask-Security's fs_uniquifier) and delete every
login row; deleting the account deletes its rows with it (ON DELETE CASCADE).
"""
import hashlib
import hmac
import time

from flask import current_app, request, session
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, select

from app.accounts import devices, reauth
from app.extensions import db
from app.models import LoginSession, User, new_session_token, session_hash
from app.security import derived_key

SECOND_STEP_KEY = "second_step"
SECOND_STEP_SECONDS = 300  # the password was right this long ago at most when the code is typed
KNOWN_DEVICE_COOKIE = "known_device"
KNOWN_DEVICE_DAYS = 365
KNOWN_DEVICE_ACCOUNTS = 5  # the accounts one browser is remembered for (a shared computer)


def start(user, remember):
    """A fresh session at login: nothing from before (a planted session, an old CSRF token) survives it.

    Signing in proves the password (or a passkey) just now, so the session starts fresh (app/accounts/reauth.py).
    """
    session.clear()
    open_login(user, remember)
    reauth.mark_fresh()


def open_login(user, remember):
    """A new login row for this browser, committed before login_user() writes its id into the cookies."""
    secret = new_session_token()
    login = LoginSession(id=session_hash(secret), user_id=user.id, remember=remember,
                         user_agent=(request.user_agent.string or "")[:255] or None,
                         signed_in_from=devices.place(request.remote_addr))
    db.session.add(login)
    db.session.commit()
    user.login_id, user.login_secret, user.login_remembered = login.id, secret, remember
    login_user(user, remember=remember)


def end_all(user):
    """Every session and remember cookie issued for the account stops working (the caller commits)."""
    user.session_token = new_session_token()
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id)
                       .execution_options(synchronize_session=False))


def keep_current(user):
    """After end_all, this browser alone stays logged in, in a new login, remember-me kept if it had it."""
    open_login(user, current_user.login_remembered)


def listed(user):
    """The account's live logins for the sessions page, this browser's first, then the most recently seen."""
    rows = db.session.scalars(select(LoginSession).where(LoginSession.user_id == user.id, LoginSession.live())
                              .order_by(LoginSession.last_seen_at.desc())).all()
    return sorted(rows, key=lambda login: login.id != user.login_id)


def end_one(user, login_id):
    """End one login of the account (its browser is logged out on its next request); False if there is none."""
    ended = db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id,
                                                          LoginSession.id == login_id)
                               .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return ended == 1


# The step between a right password and a second factor: nothing is signed in yet, the session only
# remembers whose password it was (bound to the account's session token, so a reset ends it) for a while.

def begin_second_step(user, remember, next_path):
    session.clear()
    session[SECOND_STEP_KEY] = {"user": user.id, "token": session_hash(user.session_token),
                                "remember": bool(remember), "next": next_path,
                                "until": int(time.time()) + SECOND_STEP_SECONDS}


def second_step_user():
    """The account whose password was just given, while its second step is open; else None."""
    step = session.get(SECOND_STEP_KEY)
    if not isinstance(step, dict) or step.get("until", 0) < time.time():
        return None
    user = db.session.get(User, step.get("user"))
    if user is None or user.disabled_at is not None or step.get("token") != session_hash(user.session_token):
        return None
    return user


def finish_second_step(user):
    """Sign in the account of the second step; returns where it was going."""
    step = session.get(SECOND_STEP_KEY, {})
    start(user, remember=step.get("remember", False))
    return step.get("next")


def log_out(user):
    """Logging out ends this login: the cookies just used die, wherever copies of them are; others stay."""
    db.session.execute(delete(LoginSession).where(LoginSession.id == user.login_id)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    logout_user()


# A browser that finished a second step for an account before is known to it: the daily ceiling on an
# account's app codes (app/ratelimit.py), which whoever holds the password could otherwise use up, does
# not apply there. The cookie holds an HMAC of the account and its session token, so a new password (or
# "log out other sessions") forgets every browser, and it opens nothing by itself: password and code are
# still asked, and the per-network limit still counts.

def _device_tag(user):
    message = f"{user.id}:{user.session_token}".encode()
    return hmac.new(derived_key("known-device"), message, hashlib.sha256).hexdigest()[:32]


def _known_tags():
    return [tag for tag in request.cookies.get(KNOWN_DEVICE_COOKIE, "").split(".") if tag]


def known_device(user):
    return any(hmac.compare_digest(tag, _device_tag(user)) for tag in _known_tags())


def remember_device(response, user):
    """Mark this browser known to the account (after a second step), keeping the others it is known to."""
    tag = _device_tag(user)
    tags = [tag, *(known for known in _known_tags() if known != tag)][:KNOWN_DEVICE_ACCOUNTS]
    response.set_cookie(KNOWN_DEVICE_COOKIE, ".".join(tags), max_age=KNOWN_DEVICE_DAYS * 86400, httponly=True,
                        secure=current_app.config["SESSION_COOKIE_SECURE"], samesite="Lax")
    return response
