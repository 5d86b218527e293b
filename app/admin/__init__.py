"""Pages for administrators only."""
from flask import Blueprint

bp = Blueprint("admin", __name__)
