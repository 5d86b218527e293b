"""Freshness: what matters (address, password, second factors, deletion) needs a recent password or passkey.

As django-allauth's reauthentication and Flask-Security's freshness: signing in with a password or a
passkey, or the /auth/reauthenticate page, marks this browser's session fresh for REAUTH_MINUTES. A
sensitive view decorated with `fresh_required` otherwise sends the browser to that page and brings it
back; what was typed into the refused form (passwords and codes aside) is kept in the session and
filled in again (`kept_form`). A remember-me cookie restores a login, never its freshness.
"""
import time
from functools import wraps

from flask import current_app, redirect, request, session, url_for

FRESH_KEY, KEPT_KEY = "reauth_at", "reauth_form"
NOT_KEPT = {"csrf_token", "password", "confirm", "current_password", "code"}


def mark_fresh():
    session[FRESH_KEY] = int(time.time())


def is_fresh():
    given = session.get(FRESH_KEY)
    return isinstance(given, int) and time.time() - given < current_app.config["REAUTH_MINUTES"] * 60


def fresh_required(page=None):
    """Decorate a view that changes what matters; `page` is the endpoint a refused POST comes back to (its own URL by default)."""
    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if is_fresh():
                return view(*args, **kwargs)
            back = url_for(page) if page else request.full_path.rstrip("?")
            if request.method == "POST":
                session[KEPT_KEY] = {"path": url_for(page) if page else request.path,
                                     "data": {k: v for k, v in request.form.items() if k not in NOT_KEPT}}
            return redirect(url_for("auth.reauthenticate", next=back), code=303)
        return guarded
    return decorate


def kept_form():
    """What was typed into this page's form before the re-authentication, once; else None."""
    kept = session.get(KEPT_KEY)
    if request.method != "GET" or not kept or kept.get("path") != request.path:
        return None
    session.pop(KEPT_KEY)
    return kept.get("data") or None
