"""The account's own settings under /account: password, address, second factors, sessions and deletion."""
from flask import Blueprint, request
from flask_login import current_user

bp = Blueprint("account", __name__)


@bp.after_app_request
def no_store_for_signed_in(response):
    """A page built for a logged-in user holds their data: no browser or proxy cache may keep it.

    Static files stay cacheable, and a response that chose its own caching (a public picture) keeps it.
    """
    if request.endpoint != "static" and "Cache-Control" not in response.headers and current_user.is_authenticated:
        response.headers["Cache-Control"] = "no-store"
    return response


from app.account import factors, views  # noqa: E402,F401  (routes register on bp)
