"""Routes of the main blueprint."""
from flask import jsonify, render_template

from app.main import bp
from app.main.health import health_report


@bp.get("/")
def index():
    return render_template("main/index.html")


@bp.get("/healthz")
def healthz():
    report = health_report()
    return jsonify(report), 200 if report["ok"] else 503
