"""Registration, verification, login (with its second step and passkeys) and logout, password reset."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import providers, second_step, views  # noqa: E402,F401
