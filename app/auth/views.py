"""Routes of the auth blueprint (placeholder until the accounts issue lands)."""
from flask import render_template

from app.auth import bp


@bp.route("/register", methods=["GET", "POST"])
def register():
    return render_template("main/index.html")


@bp.route("/login", methods=["GET", "POST"])
def login():
    return render_template("main/index.html")


@bp.post("/logout")
def logout():
    return render_template("main/index.html")
