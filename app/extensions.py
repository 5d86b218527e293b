"""Extension objects, created unbound and attached to the app in create_app(), and the shared Redis client."""
import time

from flask import current_app
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import ConnectionPool, Redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection
from sqlalchemy import MetaData

import config

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


class SentinelConnection(SentinelManagedConnection):
    """Disconnects when a read is interrupted, as redis-py's plain Connection does (redis-py PR #4292, open).

    Its Sentinel twin keeps such a connection in the pool, so after a stop signal lands in a worker's
    blocking dequeue, the worker's last writes read the dequeue's reply, or wait for it until SIGKILL.
    """

    def read_response(self, disable_decoding=False, *, disconnect_on_error=True, **kwargs):
        return super().read_response(disable_decoding, disconnect_on_error=disconnect_on_error, **kwargs)

    def on_connect_check_health(self, check_health=True):
        """Refuse a server that is not the primary (yet): during a failover the Sentinels may still name the old
        one, now a replica, where a worker's blocking dequeue would wait for writes that never come. The
        error makes the client's retry ask the Sentinels again."""
        super().on_connect_check_health(check_health=check_health)
        if self.connection_pool.is_master:
            self.send_command("ROLE")
            role = self.read_response()
            if role[0] not in (b"master", "master"):
                self.disconnect()
                raise ConnectionError(f"{self.host}:{self.port} is not the primary yet (failover in progress)")


class PatientRetry(Retry):
    """Retry a command for up to `seconds` in all, however many attempts that takes.

    redis-py's Retry counts attempts, and a Sentinel connection's reconnect retries again inside each
    attempt, so counts multiply into an unknown wait; a deadline is what an operator can plan a failover by.
    """

    def __init__(self, seconds):
        super().__init__(ExponentialBackoff(cap=1, base=0.1), -1)
        self.seconds = seconds

    def call_with_retry(self, do, fail, is_retryable=None, with_failure_count=False):
        deadline, failures = time.monotonic() + self.seconds, 0
        while True:
            try:
                return do()
            except self._supported_errors as error:
                if is_retryable and not is_retryable(error):
                    raise
                failures += 1
                fail(error, failures) if with_failure_count else fail(error)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                time.sleep(min(self._backoff.compute(failures), left))


def redis_client(url, patience=0, redis_class=Redis):
    """A client for REDIS_URL, plain or Sentinel-backed (redis+sentinel://, parsed by config.parse_redis_url).

    Short timeouts and no retries by default: a dead Redis costs a request about a second, not a minute.
    With `patience` (seconds), the workers and the scheduler retry a command that long, so a failover
    or a restart is ridden out inside redis-py rather than ending a worker mid-bookkeeping: a
    Sentinel-backed connection asks the Sentinels for the primary again on every reconnect. Longer
    outages are the loops' to wait out (rq's dequeue, the scheduler's run_forever).
    Bytes in, bytes out (no decode_responses) because RQ stores pickled payloads on the same client.
    The factory keeps it in app.extensions["redis"], as Flask-RQ does.
    """
    retry = PatientRetry(patience) if patience else Retry(NoBackoff(), 0)
    options = dict(socket_timeout=1, socket_connect_timeout=1, retry=retry, health_check_interval=30)
    sentinel = config.parse_redis_url("REDIS_URL", url)
    if sentinel is None:
        return redis_class(connection_pool=ConnectionPool.from_url(url, **options))
    auth = {"password": sentinel.password} if sentinel.password else {}
    sentinels = Sentinel(sentinel.sentinels, sentinel_kwargs=dict(socket_timeout=1, socket_connect_timeout=1, **auth))
    return sentinels.master_for(sentinel.service, redis_class=redis_class, connection_class=SentinelConnection,
                                db=sentinel.db, **auth, **options)


def get_redis():
    """The app's Redis client: queues, captcha answers, throttles and the outbox's wake-up flag."""
    return current_app.extensions["redis"]
