"""Pages for administrators only: the dashboard, jobs, mail and accounts under /admin/."""
from flask import Blueprint, abort, flash
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.accounts import twofactor
from app.http import see_other

bp = Blueprint("admin", __name__)


@bp.before_request
@login_required
def require_admin():
    """Every admin route: anonymous visitors go to the login page, other users get a 403.

    An administrator without a second factor is sent to set one up first: a guessed or reused password
    must not open every account's page.
    """
    if not current_user.is_admin:
        abort(403, _("This page is for administrators."))
    if not twofactor.has_second_factor(current_user):
        flash(_("Administrators need a second factor: set up an authenticator app or a passkey to open the "
                "administration pages."), "info")
        return see_other("account.two_factor")


from app.admin import jobs, users, views  # noqa: E402,F401  (routes register on bp)
