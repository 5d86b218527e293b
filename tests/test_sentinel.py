"""Redis behind Sentinel: REDIS_URL=redis+sentinel://..., and a forced failover in the middle of sign-ups.

The process tests run a real Sentinel set (tests/services.py: a primary, a replica, one Sentinel) and the
Procfile's web, worker, worker-bulk and scheduler against it; the parser tests need no server.
"""
import threading
import time

import pytest
from redis import Redis
from redis.exceptions import ConnectionError
from rq import Worker
from rq_scheduler import Scheduler
from sqlalchemy import select

import config
from app import create_app
from app.extensions import db, redis_client
from app.models import OutboxMail
from app.queues import SCHEDULER_HEARTBEAT_KEY
from devtools.waitfor import addresses
from jobs import schedule
from jobs.worker import WorkerRedis
from tests.helpers import HEALTHZ, Visitor, hidden_inputs, register
from tests.services import Process, SentinelSet, flask_cli, start_site, wait_until

PASSWORD = "sentinel passphrase 42"
SUBJECT = "Confirm your email address"
SETTINGS = {"MAIL_TIMEOUT": "2", "MAIL_RETRY_INTERVALS": "1,1,2,2,3,3", "OUTBOX_SWEEP_SECONDS": "1",
            "RATELIMIT_ENABLED": "false"}  # dozens of sign-ups from one address, on purpose


@pytest.mark.parametrize("url,expected", [
    ("redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster/2",
     config.SentinelAddress((("10.0.0.1", 26379), ("10.0.0.2", 26380)), "mymaster", 2)),
    ("redis+sentinel://sentinel/mymaster", config.SentinelAddress((("sentinel", 26379),), "mymaster", 0)),
    ("redis+sentinel://:s%40cret@h:1/cache/0", config.SentinelAddress((("h", 1),), "cache", 0, "s@cret")),
])
def test_a_sentinel_url_names_its_sentinels_service_database_and_password(url, expected):
    assert config.parse_redis_url("REDIS_URL", url) == expected


def test_a_plain_redis_url_is_not_a_sentinel_address():
    assert config.parse_redis_url("REDIS_URL", "redis://localhost:6379/0") is None


@pytest.mark.parametrize("url", [
    "localhost:6379", "http://localhost:6379/0", "redis+sentinel://h:1", "redis+sentinel://h:1/",
    "redis+sentinel://h:port/mymaster", "redis+sentinel://h:1,/mymaster", "redis+sentinel://h:99999/mymaster",
    "redis+sentinel://h:1/mymaster/zero", "redis+sentinel://h:1/mymaster/0/extra",
    "redis+sentinel://h:1/mymaster?socket_timeout=1",
])
def test_a_bad_redis_url_is_refused_at_start_up_with_one_line(monkeypatch, url):
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(config.ConfigError, match="REDIS_URL") as refused:
        create_app()
    assert "\n" not in str(refused.value)


def test_the_refusal_does_not_print_the_password(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis+sentinel://:hunter2-secret@h:1/")
    with pytest.raises(config.ConfigError) as refused:
        create_app()
    assert "hunter2" not in str(refused.value)


def test_waitfor_waits_for_any_of_the_sentinels():
    assert addresses("redis+sentinel://a:1,b:2/mymaster/0") == [("a", 1), ("b", 2)]
    assert addresses("redis://localhost:6380/0") == [("localhost", 6380)]


@pytest.fixture
def sentinels():
    servers = SentinelSet().start()
    yield servers
    servers.cleanup()


def primary(sentinels):
    return Redis(port=sentinels.master_port())


@pytest.mark.processes
def test_a_replica_the_sentinels_still_name_mid_failover_is_refused_not_used(sentinels, monkeypatch):
    """A blocking dequeue on the old primary, a replica by then, would wait for writes that never come."""
    client = redis_client(sentinels.url)
    replica = sentinels.replica if sentinels.master_port() != sentinels.replica.port else sentinels.primary
    # what a connection asks its pool (redis-py keeps the answer in a proxy): the replica, as mid-failover
    monkeypatch.setattr(client.connection_pool.proxy, "get_master_address", lambda: ("127.0.0.1", replica.port))
    with pytest.raises(ConnectionError, match="not the primary"):
        client.ping()
    monkeypatch.undo()
    assert client.ping()  # the Sentinel's answer again: the real primary


@pytest.mark.processes
def test_the_app_keeps_captcha_limits_and_health_on_the_primary_the_sentinel_names(make_app, sentinels):
    app = make_app(REDIS_URL=sentinels.url, RATELIMIT_REGISTER_PER_ADDRESS="2 per hour")
    client = app.test_client()
    assert register(client, username="first", email="first@example.com").status_code == 303
    assert register(client, username="second", email="second@example.com").status_code == 303
    assert register(client, username="third", email="third@example.com").status_code == 429
    assert primary(sentinels).keys("LIMITS:*/auth.register/2/1/hour") != []  # Flask-Limiter's counter
    assert primary(sentinels).llen("rq:queue:mail") >= 1  # the mail's wake-up call
    sentinels.failover()
    fields = hidden_inputs(client.get("/auth/register").get_data(as_text=True))  # a captcha drawn after the switch
    assert primary(sentinels).exists(f"captcha:{fields['captcha_id']}")
    assert client.get("/healthz", headers=HEALTHZ).get_json()["redis"] == "ok"


class Signups:
    """Visitors signing up over HTTP; a polite 503 (Redis switching) is tried again, as a person would."""

    def __init__(self, base):
        self.base, self.statuses, self.done = base, [], []

    def sign_up(self, address, attempts=20):
        for _ in range(attempts):
            visitor = Visitor(self.base)
            _, _, page = visitor.request("/auth/register")
            fields = {**hidden_inputs(page), "username": address.partition("@")[0], "email": address,
                      "password": PASSWORD, "confirm": PASSWORD, "captcha": "PASSED"}
            status, _, _ = visitor.request("/auth/register", fields)
            self.statuses.extend(visitor.statuses)
            if status == 303:
                self.done.append(address)
                return
            time.sleep(0.2)
        raise AssertionError(f"{address}: no 303 in {attempts} attempts: {self.statuses[-4:]}")


def verification_rows(app):
    with app.app_context():
        rows = db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "verify")).all()
        return {row.recipient: row.status for row in rows}


def all_sent(app, addresses_):
    rows = verification_rows(app)
    return all(rows.get(address) == "sent" for address in addresses_)


@pytest.mark.processes
def test_sign_ups_through_a_failover_get_every_mail_once(make_app, app_env, mailbox, sentinels, tmp_path):
    env = {**app_env, **SETTINGS, "REDIS_URL": sentinels.url}
    app = make_app(**env)
    base, processes = start_site(env, str(tmp_path), ("web", "worker", "worker-bulk", "scheduler"))
    try:
        signups = Signups(base)
        before = [f"before{i}@example.com" for i in range(4)]
        for address in before:
            signups.sign_up(address)
        wait_until(lambda: all_sent(app, before), timeout=30, interval=0.2, message="mail sent before the switch")
        during = [f"during{i}@example.com" for i in range(8)]
        visitors = threading.Thread(target=lambda: [signups.sign_up(address) for address in during])
        visitors.start()
        switched_at = time.time()
        sentinels.failover()
        visitors.join(timeout=120)
        after = [f"after{i}@example.com" for i in range(4)]
        for address in after:
            signups.sign_up(address)

        everyone = before + during + after
        assert sorted(signups.done) == sorted(everyone)
        assert [process.name for process in processes if process.process.poll() is not None] == []
        try:
            wait_until(lambda: all_sent(app, everyone), timeout=60, interval=0.2, message="every mail sent")
        except TimeoutError:
            logs = "\n".join(f"--- {process.name}\n{process.log()[-6000:]}" for process in processes)
            raise AssertionError(f"not every mail sent: {verification_rows(app)}\n{logs}") from None
        counts = {address: len([m for m in mailbox.to(address) if m.subject == SUBJECT]) for address in everyone}
        assert counts == {address: 1 for address in everyone}
        assert all(code < 500 or code == 503 for _, code in signups.statuses), signups.statuses

        new = primary(sentinels)
        wait_until(lambda: float(new.get(SCHEDULER_HEARTBEAT_KEY) or 0) > switched_at, timeout=30,
                   message="the scheduler beats on the new primary")
        wanted = {entry.job_id(app.config["TIMEZONE"]) for entry in schedule.declared(app.config)}
        assert wanted <= {job.id for job in Scheduler(connection=new).get_jobs()}
        result = flask_cli("jobs", "run", "cleanup", "--wait", "--timeout", "60", env=env)  # worker-bulk's queue
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(Worker.all(connection=new)) == 3  # the pool's two and worker-bulk
        assert [process.name for process in processes if process.process.poll() is not None] == []
    finally:
        for process in processes:
            process.stop(timeout=10)


@pytest.mark.processes
def test_the_workers_on_sentinel_stop_at_once_on_a_stop_signal(app_env, sentinels, tmp_path):
    env = {**app_env, "REDIS_URL": sentinels.url}
    workers = [Process(name, env, str(tmp_path)).start() for name in ("worker", "worker-bulk")]
    try:
        wait_until(lambda: len(Worker.all(connection=primary(sentinels))) == 3, timeout=30, message="workers up")
        for worker in workers:
            started = time.monotonic()
            worker.stop(timeout=15)  # SIGTERM, then SIGKILL after 15 s
            assert worker.process.returncode == 0, worker.log()
            assert time.monotonic() - started < 10
    finally:
        for worker in workers:
            worker.stop(timeout=5)


def test_the_workers_refuse_a_bad_redis_url_with_one_line():
    with pytest.raises(SystemExit, match="^configuration error: REDIS_URL='redis\\+sentinel://h:1/' must look like"):
        WorkerRedis.from_url("redis+sentinel://h:1/")
