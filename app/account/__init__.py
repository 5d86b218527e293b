"""The account's own settings under /account: password, address, sessions and deletion."""
from flask import Blueprint, g

bp = Blueprint("account", __name__)


@bp.after_app_request
def no_store_for_signed_in(response):
    """A page built for a logged-in user holds their data: no browser or proxy cache may keep it.

    g._login_user is Flask-Login's record of the user this request looked at; a request that never
    looked (a stylesheet) is left cacheable.
    """
    user = g.get("_login_user")
    if user is not None and user.is_authenticated:
        response.headers["Cache-Control"] = "no-store"
    return response


from app.account import views  # noqa: E402,F401  (routes register on bp)
