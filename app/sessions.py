"""Sessions that end: every cookie names the account's session token, so a new token ends them all.

The session cookie and the remember cookie both carry `User.get_id()`, the token, never the row id.
Logging out, changing the password or the address, a password reset and deletion replace it, so a copy
of a cookie taken before any of them opens nothing afterwards. One token per account (as Flask-Security's
fs_uniquifier) means logging out on one device logs the account out on all of them: the price of keeping
no server-side list of sessions to check on every request.
"""
from flask import current_app, request, session
from flask_login import login_user, logout_user

from app.extensions import db
from app.models import new_session_token


def start(user, remember):
    """A fresh session at login: nothing from before (a planted session, an old CSRF token) survives it."""
    session.clear()
    login_user(user, remember=remember)


def end_all(user):
    """Every session and remember cookie issued for the account stops working (the caller commits)."""
    user.session_token = new_session_token()


def keep_current(user):
    """After end_all, this browser alone stays logged in, under the new token, remember-me kept if it had it."""
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    login_user(user, remember=remembered)


def log_out(user):
    """Logging out ends the cookie just used, wherever copies of it are, and with it the other sessions."""
    end_all(user)
    db.session.commit()
    logout_user()
