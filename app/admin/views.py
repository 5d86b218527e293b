"""Admin pages: a list of accounts, for administrators only."""
from flask import abort, render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from app import avatars
from app.admin import bp
from app.extensions import db
from app.models import User


@bp.before_request
@login_required
def require_admin():
    """Every admin route: anonymous visitors go to the login page, other users get a 403."""
    if not current_user.is_admin:
        abort(403, "This page is for administrators.")


@bp.get("/users")
def users():
    accounts = db.session.scalars(select(User).order_by(User.created_at.desc()).limit(500)).all()
    return render_template("admin/users.html", users=accounts, avatar_urls=avatars.urls,
                           avatars=avatars.digests_for(user.id for user in accounts))
