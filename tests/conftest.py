"""Fixtures: a real redis-server and SMTP sink per session, a migrated database per test.

The database is SQLite in the test's tmp_path, or, when TEST_DATABASE_URL names a PostgreSQL server, a fresh
database on that server for each test (`make test` runs the suite both ways).
"""
import os

import pytest
from flask_migrate import upgrade
from redis import Redis

from app import create_app
from app.extensions import db
from app.queues import QUEUES
from devtools.mailsink import serve
from jobs import smtp
from jobs.worker import AppSimpleWorker
from tests import services
from tests.helpers import HEALTHZ_TOKEN
from tests.services import OidcProvider, RedisServer, free_port, start_site

CONTRACT_ENV = ("APP_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS",
                "MAIL_USE_SSL", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_DEFAULT_SENDER", "BASE_URL", "BACKUP_DIR",
                "TIMEZONE", "CAPTCHA_TEST_MODE", "MAIL_RETRY_INTERVALS", "OUTBOX_SWEEP_SECONDS", "RATELIMIT_ENABLED",
                "TRUSTED_PROXIES", "HEALTHZ_TOKEN", "METRICS_TOKEN", "METRICS_ALLOW", "LOG_FORMAT",
                "MAIL_MAX_PER_SECOND", "MAIL_CONNECTIONS")


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def _smtp_sink():
    controller, handler = serve("127.0.0.1", free_port())
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture(scope="session")
def oidc_provider():
    """A real OpenID Connect provider (tests/services.py OidcProvider); each test sets the accounts it needs."""
    provider = OidcProvider()
    try:
        yield provider.start()
    finally:
        provider.stop()


@pytest.fixture
def mailbox(_smtp_sink):
    """The SMTP sink, emptied and well-behaved at the start of each test."""
    _smtp_sink.reset()
    return _smtp_sink


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server: TEST_DATABASE_URL's, or one started for this session (tests/postgres.py)."""
    from tests.postgres import PostgresServer

    server = PostgresServer.at(TEST_DATABASE_URL) if TEST_DATABASE_URL.startswith("postgres") else PostgresServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def new_database(request, tmp_path):
    """new_database(name) -> the URL of a fresh, empty database of the kind the suite runs on."""

    def create(name="app"):
        if TEST_DATABASE_URL:
            return request.getfixturevalue("postgres_server").create_database(name)
        return f"sqlite:///{tmp_path / name}.sqlite3"

    return create


@pytest.fixture
def app_env(tmp_path, redis_server, mailbox, new_database):
    """The environment a test's app (and any process it starts) is configured from."""
    return {
        "APP_ENV": "testing",
        "SECRET_KEY": "test-secret-key-0123456789",
        "DATABASE_URL": new_database("app"),
        "REDIS_URL": redis_server.url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(mailbox.port),
        "MAIL_DEFAULT_SENDER": "Sign-up <no-reply@signup.test>",
        "BASE_URL": "http://localhost:5000",
        "BACKUP_DIR": str(tmp_path / "backups"),
        "CAPTCHA_TEST_MODE": "true",
        "HEALTHZ_TOKEN": HEALTHZ_TOKEN,
    }


@pytest.fixture
def make_app(app_env, monkeypatch, redis_server):
    """Create an app from app_env plus overrides, with the schema migrated and Redis empty."""
    apps, overridden = [], set()

    def factory(**overrides):
        for name in {*CONTRACT_ENV, *overridden}:  # an app made earlier in the test leaves nothing behind
            monkeypatch.delenv(name, raising=False)
        overridden.update(overrides)
        for name, value in {**app_env, **overrides}.items():
            monkeypatch.setenv(name, value)
        app = create_app()
        with app.app_context():
            upgrade()
        Redis.from_url(redis_server.url).flushdb()
        apps.append(app)
        return app

    yield factory
    for app in apps:  # close pooled connections: a PostgreSQL server allows only so many
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    """Inside the app's context, as a job runs; the worker's SMTP connection is closed afterwards."""
    with app.app_context():
        yield app
        smtp.close_all()


@pytest.fixture
def run_jobs(app, redis_server):
    """Run every queued job with a real RQ worker (burst mode, in this process), as the worker would."""

    def run(queues=QUEUES):
        connection = Redis.from_url(redis_server.url)
        worker = AppSimpleWorker(list(queues), connection=connection, app=app)
        worker.work(burst=True)

    return run


@pytest.fixture(autouse=True)
def _spawn_guard(request):
    """A test that starts a process must say so with @pytest.mark.processes, so `make check` stays quick."""
    services.spawning_allowed = request.node.get_closest_marker("processes") is not None
    yield
    services.spawning_allowed = True


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch):
    """Tests never read the developer's shell settings (or their Redis on 6379)."""
    for name in CONTRACT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ENV", "testing")
    os.environ.pop("RQ_REDIS_URL", None)




def _running_site(app_env, tmp_path, names):
    processes = []
    try:
        base, processes = start_site(app_env, str(tmp_path), names)
        yield base, processes
    finally:
        for process in processes:
            process.stop(timeout=5)  # how the worker shuts down is the reliability tests' subject


@pytest.fixture
def site(app_env, tmp_path):
    """The Procfile's release, then web and worker on a free port: (base URL, processes)."""
    yield from _running_site(app_env, tmp_path, ("web", "worker"))


@pytest.fixture
def web(app_env, tmp_path):
    """The Procfile's release, then web alone: its base URL (pages, captcha and redirects need no worker)."""
    for base, _ in _running_site(app_env, tmp_path, ("web",)):
        yield base


@pytest.fixture
def browser():
    """Headless Chromium (Debian's, or CHROMIUM) through Playwright, closed after the test."""
    from playwright.sync_api import sync_playwright

    from tests.helpers import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
