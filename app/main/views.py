"""Routes of the main blueprint."""
from flask import jsonify, render_template
from flask_login import current_user, login_required

from app.main import bp
from app.main.health import health_report


@bp.get("/")
def index():
    return render_template("main/index.html")


@bp.get("/account")
@login_required
def account():
    return render_template("main/account.html", user=current_user)


@bp.get("/healthz")
def healthz():
    report = health_report()
    return jsonify(report), 200 if report["ok"] else 503
