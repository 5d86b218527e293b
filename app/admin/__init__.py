"""Pages for administrators only: the dashboard, jobs, mail and accounts under /admin/."""
from flask import Blueprint, abort
from flask_babel import gettext as _
from flask_login import current_user, login_required

bp = Blueprint("admin", __name__)


@bp.before_request
@login_required
def require_admin():
    """Every admin route: anonymous visitors go to the login page, other users get a 403."""
    if not current_user.is_admin:
        abort(403, _("This page is for administrators."))


from app.admin import jobs, users, views  # noqa: E402,F401  (routes register on bp)
