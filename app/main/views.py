"""Routes of the main blueprint: the home page, the language switcher and the health check."""
import hmac

from flask import current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from app import i18n
from app.http import local_path
from app.extensions import db
from app.main import bp
from app.health import health_report


@bp.get("/")
def index():
    return render_template("main/index.html")


@bp.post("/language")
def language():
    """The switcher on every page: a POST with CSRF (no link can change it), saved on the account and in a cookie.

    The cookie keeps the choice across logging out; the account's copy follows the user to other browsers
    and tells the workers which language to write mail in.
    """
    choice = request.form.get("language")
    response = redirect(local_path(request.args.get("next")) or url_for("main.index"), code=303)
    if choice not in i18n.LANGUAGES:
        return response
    if current_user.is_authenticated:
        current_user.language = choice
        db.session.commit()
    response.set_cookie(i18n.COOKIE, choice, max_age=i18n.COOKIE_MAX_AGE, secure=request.is_secure,
                        httponly=True, samesite="Lax")
    return response


@bp.get("/healthz")
def healthz():
    """ok / not ok for anyone (a load balancer); queues, workers and mail only for admins and HEALTHZ_TOKEN."""
    report = health_report()
    body = report if may_see_details() else {"ok": report["ok"]}
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if report["ok"] else 503


def may_see_details():
    token = current_app.config["HEALTHZ_TOKEN"]
    offered = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
        return True
    return current_user.is_authenticated and current_user.is_admin
