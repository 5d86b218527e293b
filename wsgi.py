"""Entry point for gunicorn (wsgi:app) and the flask CLI (flask --app wsgi ...)."""
from app import create_app
from config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One clear line for the operator instead of a traceback; exit status 1.
    raise SystemExit(f"configuration error: {exc}") from None
