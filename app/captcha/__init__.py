"""Image captcha: PNG drawn with Pillow, answer kept in Redis and used once."""
from flask import Blueprint

bp = Blueprint("captcha", __name__)
