"""Sessions that end: every cookie names the account's session token and one login row, both must be current.

The session cookie and the remember cookie both carry `User.get_id()`, "<token hash>.<login secret>",
never the row id, and the database holds neither (app.models.session_hash). Logging out deletes this browser's login row only, so a copy of its cookies opens
nothing afterwards while other devices stay logged in. "Log out other sessions", a new password or
address and a password reset replace the token (as Flask-Security's fs_uniquifier) and delete every
login row; deleting the account deletes its rows with it (ON DELETE CASCADE).
"""
from flask import session
from flask_login import current_user, login_user, logout_user
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import LoginSession, new_session_token, session_hash


def start(user, remember):
    """A fresh session at login: nothing from before (a planted session, an old CSRF token) survives it."""
    session.clear()
    open_login(user, remember)


def open_login(user, remember):
    """A new login row for this browser, committed before login_user() writes its id into the cookies."""
    secret = new_session_token()
    login = LoginSession(id=session_hash(secret), user_id=user.id, remember=remember)
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


def others(user):
    """How many other live logins the account has, for the sessions page."""
    return db.session.scalar(
        select(func.count()).select_from(LoginSession)
        .where(LoginSession.user_id == user.id, LoginSession.id != user.login_id,
               LoginSession.live()))


def log_out(user):
    """Logging out ends this login: the cookies just used die, wherever copies of them are; others stay."""
    db.session.execute(delete(LoginSession).where(LoginSession.id == user.login_id)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    logout_user()
