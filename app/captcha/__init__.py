"""Image captcha: PNG drawn with Pillow, answer kept in Redis and used once."""
from flask import Blueprint

bp = Blueprint("captcha", __name__)

from app.captcha import views  # noqa: E402,F401  (routes register on bp)
