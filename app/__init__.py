"""Application factory: configuration, extensions, blueprints, CLI and error pages."""
import os

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine

import config as config_module
from app import i18n, logs, providers, ratelimit, requestlog, security
from app.extensions import csrf, db, login_manager, mailer, migrate, redis_client
from app.metrics import counters

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def create_app(config_class=None):
    """Build the app without touching the database or Redis, so it is safe to create before a fork."""
    app = Flask(__name__, template_folder="../templates", instance_relative_config=True)
    config_class = config_class or config_module.config_class_from_env()
    app.config.from_object(config_class())
    register_extensions(app)
    i18n.init_app(app)
    register_blueprints(app)
    ratelimit.init_app(app)  # after the blueprints: it wraps their views
    security.init_app(app)
    requestlog.init_app(app)
    register_error_pages(app)
    register_cli(app)
    configure_logging(app)
    return app


def register_extensions(app):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(os.path.abspath(uri[len("sqlite:///"):])), exist_ok=True)
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    db.init_app(app)
    from app import models  # noqa: F401  (the tables and the user loader must be known to the app)

    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.localize_callback = str  # the lazy text, in the request's language, as a plain str for the session
    login_manager.login_message_category = "info"
    csrf.init_app(app)
    mailer.init_app(app)
    providers.init_app(app)
    app.extensions["redis"] = redis_client(app.config["REDIS_URL"])


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL lets the backup and the stats job read while sign-ups write."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def register_blueprints(app):
    from app.account import bp as account_bp
    from app.admin import bp as admin_bp
    from app.auth import bp as auth_bp
    from app.avatars import bp as avatars_bp
    from app.captcha import bp as captcha_bp
    from app.main import bp as main_bp
    from app.metrics import bp as metrics_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(account_bp, url_prefix="/account")
    app.register_blueprint(captcha_bp, url_prefix="/captcha")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(avatars_bp, url_prefix="/avatars")
    app.register_blueprint(metrics_bp)


def register_error_pages(app):
    def render_error(error):
        code = getattr(error, "code", 500)
        retry = ratelimit.retry_after(error) if code == 429 else None
        if code == 429:
            counters.RATE_LIMITED.labels(request.endpoint or "none").inc()
        headers = {"Retry-After": str(retry)} if retry else {}
        return render_template("errors/error.html", code=code, retry=retry, description=description_of(error)), \
            code, headers

    for code in (400, 403, 404, 405, 413, 429, 500, 503):
        app.register_error_handler(code, render_error)


def description_of(error):
    """What the error page says: our own abort() texts (translated where raised), or None for the page's own.

    Werkzeug's default descriptions and Flask-WTF's CSRF reasons are English only, and a 5xx's text is
    not for visitors (a 503 says what to do, so it is shown).
    """
    code = getattr(error, "code", 500)
    if isinstance(error, CSRFError) or (code >= 500 and code != 503):
        return None
    description = getattr(error, "description", None)
    return None if description == type(error).description else description


def register_cli(app):
    from app import cli

    cli.init_app(app)


def configure_logging(app):
    logs.install_redaction()
    requestlog.configure(app, LOG_FORMAT)
