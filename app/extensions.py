"""Extension objects, created unbound and attached to the app in create_app(), and the shared Redis client."""
from flask import current_app
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import MetaData

# Named constraints keep Alembic migrations portable between SQLite and PostgreSQL.
db = SQLAlchemy(metadata=MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mailer = Mail()  # Flask-Mail; what it sends is jobs/mail.py's, what it says app/emails.py's


def redis_client(url):
    """Short timeouts and no retries: a dead Redis costs a request about a second, not a minute.

    Bytes in, bytes out (no decode_responses) because RQ stores pickled payloads on the same client.
    The factory keeps it in app.extensions["redis"], as Flask-RQ does.
    """
    return Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0),
                          health_check_interval=30)


def get_redis():
    """The app's Redis client: queues, captcha answers, throttles and the outbox's wake-up flag."""
    return current_app.extensions["redis"]
