"""Fault injection with the Procfile's real processes: whatever fails, every sign-up gets its mail, once.

Each test runs its own redis-server and SMTP sink (so they can be stopped, frozen or wiped), signs up
over HTTP against gunicorn, and runs the Procfile's worker and scheduler with short retry intervals
and a one-second sweep.
"""
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Event, OutboxMail, User
from tests.helpers import Visitor, hidden_inputs
from tests.services import Process, RedisServer, SmtpSink, free_port, port_open, wait_until

pytestmark = pytest.mark.processes

PASSWORD = "reliable passphrase 42"
SUBJECT = "Confirm your email address"
# A request that waited on the frozen Redis would hang until gunicorn's 30 s worker timeout; ours give up after
# about a second. The bound sits far from both, so a loaded machine does not make it flaky.
ANSWERED_WITHIN = 8
SETTINGS = {"MAIL_TIMEOUT": "2", "MAIL_RETRY_INTERVALS": "1,1,2,2,3,3", "OUTBOX_SWEEP_SECONDS": "1"}


class Stack:
    """One deployment: its Redis, its mail provider, its Procfile processes and the answers they gave."""

    def __init__(self, make_app, app_env, log_dir, settings):
        self.redis = RedisServer().start()
        self.sink = SmtpSink().start()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        overrides = {**SETTINGS, **settings, "REDIS_URL": self.redis.url, "MAIL_PORT": str(self.sink.port),
                     "BASE_URL": self.base,
                     "RATELIMIT_ENABLED": "false"}  # dozens of sign-ups from one address, on purpose
        self.env = {**app_env, **overrides}
        self.app = make_app(**overrides)  # migrated, as the release step leaves it
        self.log_dir = log_dir
        self.processes = []
        self.statuses = []

    def start(self, name):
        process = Process(name, {**self.env, "PORT": str(self.port)}, self.log_dir).start()
        self.processes.append(process)
        if name == "web":
            wait_until(lambda: port_open(self.port), timeout=30, message="web listening")
        return process

    def close(self):
        for process in self.processes:
            process.stop()
        self.sink.stop()
        self.redis.cleanup()

    def sign_up(self, address):
        """The register form as a browser submits it; returns (status, seconds of the slower request)."""
        visitor = Visitor(self.base)
        try:
            start = time.perf_counter()
            _, _, page = visitor.request("/auth/register")
            middle = time.perf_counter()
            fields = {**hidden_inputs(page), "username": address.partition("@")[0], "email": address,
                      "password": PASSWORD, "confirm": PASSWORD, "captcha": "PASSED"}
            status, _, _ = visitor.request("/auth/register", fields)
            return status, max(middle - start, time.perf_counter() - middle)
        finally:
            self.statuses.extend(visitor.statuses)

    def sign_up_all(self, addresses):
        for address in addresses:
            assert self.sign_up(address)[0] == 303, address

    def rows(self):
        """{recipient: (status, attempts, last_error)} of the verification mail, read fresh."""
        with self.app.app_context():
            rows = db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "verify")).all()
            return {r.recipient: (r.status, r.attempts, r.last_error) for r in rows}

    def wait_settled(self, addresses, timeout=60):
        """Until every address's mail is sent or failed; returns the rows."""
        def settled():
            rows = self.rows()
            done = set(addresses) <= set(rows) and all(rows[a][0] in ("sent", "failed") for a in addresses)
            return done and rows
        return wait_until(settled, timeout=timeout, interval=0.2, message="every mail sent or failed")

    def mails_to(self, address):
        return [m for m in self.sink.handler.to(address) if m.subject == SUBJECT]

    def assert_exactly_one_mail_each(self, addresses):
        counts = {address: len(self.mails_to(address)) for address in addresses}
        assert counts == {address: 1 for address in addresses}

    def assert_no_500(self):
        """503 is the polite "try again in a moment"; any other 5xx is a crash."""
        assert self.statuses, self.statuses
        assert all(code < 500 or code == 503 for _, code in self.statuses), self.statuses


@pytest.fixture
def stack(make_app, app_env, tmp_path, request):
    """A running deployment's parts; parametrize indirectly with a dict to change SETTINGS."""
    stack = Stack(make_app, app_env, str(tmp_path), getattr(request, "param", {}))
    yield stack
    stack.close()


def addresses(prefix, count):
    return [f"{prefix}{i}@example.com" for i in range(count)]


def test_provider_deferring_the_first_attempts_gets_every_mail_once(stack):
    stack.sink.handler.defer_next = 3  # 451 to the first three attempts
    for name in ("web", "worker", "scheduler"):
        stack.start(name)
    people = addresses("deferred", 4)
    stack.sign_up_all(people)
    rows = stack.wait_settled(people)
    assert {rows[a][0] for a in people} == {"sent"}
    assert sum(rows[a][1] for a in people) == len(people) + 3
    stack.assert_exactly_one_mail_each(people)
    stack.assert_no_500()


def test_provider_down_for_a_while_gets_every_mail_once(stack):
    stack.sink.stop()
    for name in ("web", "worker", "scheduler"):
        stack.start(name)
    people = addresses("outage", 3)
    stack.sign_up_all(people)
    wait_until(lambda: all(r[1] >= 2 and "Connection refused" in (r[2] or "") for r in stack.rows().values()),
               timeout=30, interval=0.2, message="every mail tried twice during the outage")
    stack.sink.start()
    rows = stack.wait_settled(people)
    assert {rows[a][0] for a in people} == {"sent"}
    stack.assert_exactly_one_mail_each(people)
    stack.assert_no_500()


def test_unknown_mailbox_is_failed_once_and_the_others_are_sent(stack):
    stack.sink.handler.refused = {"nobody@example.com"}
    for name in ("web", "worker", "scheduler"):
        stack.start(name)
    people = ["nobody@example.com", *addresses("known", 3)]
    stack.sign_up_all(people)
    rows = stack.wait_settled(people)
    status, attempts, error = rows["nobody@example.com"]
    assert (status, attempts) == ("failed", 1)
    assert "550" in error
    stack.assert_exactly_one_mail_each(people[1:])
    with stack.app.app_context():
        from jobs.mail import redrive

        assert redrive(grace_seconds=0) == 0  # nothing left for the sweep: no retry storm
        failures = db.session.scalar(select(func.count()).select_from(Event).where(Event.kind == Event.MAIL_FAILED))
    assert failures == 1
    assert stack.rows()["nobody@example.com"][1] == 1
    stack.assert_no_500()


@pytest.mark.parametrize("stack", [{"MAIL_TIMEOUT": "10", "OUTBOX_SWEEP_SECONDS": "5"}], indirect=True)
def test_worker_killed_mid_send_loses_nothing(stack):
    """SIGKILL to the worker's whole process group, as an OOM or container kill does, then a restart.

    With the default MAIL_TIMEOUT and OUTBOX_SWEEP_SECONDS=5, the mail must go out within two minutes.
    """
    stack.sink.handler.delay = 1.5  # a slow provider: the kill lands while it holds the message
    stack.start("web")
    stack.start("scheduler")
    worker = stack.start("worker")
    [person] = addresses("killed", 1)
    stack.sign_up_all([person])
    wait_until(lambda: stack.sink.handler.attempts >= 1, timeout=30, message="the provider is receiving the mail")
    worker.signal(signal.SIGKILL)
    worker.process.wait(timeout=10)
    killed_at = time.monotonic()
    assert stack.rows()[person][0] == "sending"  # the lease still holds it
    stack.sink.handler.delay = 0
    stack.start("worker")
    rows = stack.wait_settled([person], timeout=120)
    assert rows[person][0] == "sent"
    assert rows[person][1] == 2
    print(f"mail sent {time.monotonic() - killed_at:.1f}s after the kill")  # lease 25 s, then a sweep
    assert 1 <= len(stack.mails_to(person)) <= 2  # the killed attempt may have reached the provider too
    stack.assert_no_500()


def test_sigterm_lets_the_worker_finish_the_mail_it_is_sending(stack):
    """Every deploy: SIGTERM to the whole group; the in-flight send completes, then the worker exits."""
    stack.sink.handler.delay = 1.5
    stack.start("web")
    worker = stack.start("worker")
    [person] = addresses("deploy", 1)
    stack.sign_up_all([person])
    wait_until(lambda: stack.sink.handler.attempts >= 1, timeout=30, message="the provider is receiving the mail")
    worker.signal(signal.SIGTERM)
    worker.process.wait(timeout=10)  # the busy worker finishes its send, the idle one stops at once
    assert stack.rows()[person][:2] == ("sent", 1)
    stack.assert_exactly_one_mail_each([person])
    assert "Traceback" not in worker.log()


def test_sign_ups_queued_before_redis_restarts_empty_all_go_out_once(stack):
    stack.start("web")
    people = addresses("wiped", 4)
    stack.sign_up_all(people)  # no worker yet: the wake-ups wait in Redis...
    stack.redis.restart_empty()  # ...and are lost with it
    stack.start("scheduler")
    stack.start("worker")
    rows = stack.wait_settled(people)
    assert {rows[a][0] for a in people} == {"sent"}
    stack.assert_exactly_one_mail_each(people)
    stack.assert_no_500()


def test_redis_frozen_or_stopped_during_sign_up_gets_a_clear_answer_fast(stack):
    """Frozen (SIGSTOP: connections hang) and stopped (refused): each request answers within seconds, never 500.

    A form loaded before the fault cannot have its captcha checked: 503, try again. A sign-up made during
    the fault may be accepted (303) when its enqueue is what fails; the redrive then sends its mail.
    """
    for name in ("web", "worker", "scheduler"):
        stack.start(name)
    redis = stack.redis.process
    faults = {"frozen": (lambda: redis.send_signal(signal.SIGSTOP), lambda: redis.send_signal(signal.SIGCONT)),
              "stopped": (stack.redis.stop, stack.redis.start)}
    accepted = []
    for name, (break_redis, repair_redis) in faults.items():
        visitor = Visitor(stack.base)
        _, _, page = visitor.request("/auth/register")
        break_redis()
        try:
            fields = {**hidden_inputs(page), "username": f"early-{name}", "email": f"early-{name}@example.com",
                      "password": PASSWORD, "confirm": PASSWORD, "captcha": "PASSED"}
            start = time.perf_counter()
            status, _, body = visitor.request("/auth/register", fields)
            assert (status, "try again" in body) == (503, True)
            assert time.perf_counter() - start < ANSWERED_WITHIN
            address = f"during-{name}@example.com"
            status, seconds = stack.sign_up(address)
            assert status in (303, 503), (name, status, seconds)
            assert seconds < ANSWERED_WITHIN, (name, status, seconds)
            if status == 303:
                accepted.append(address)
        finally:
            repair_redis()
            stack.statuses.extend(visitor.statuses)
    stack.wait_settled(accepted)
    stack.assert_exactly_one_mail_each(accepted)
    with stack.app.app_context():
        assert set(db.session.scalars(select(User.email))) == set(accepted)
    print(f"accepted during the faults: {accepted}")
    stack.assert_no_500()


def test_forty_concurrent_sign_ups_get_forty_accounts_and_forty_mails(stack):
    for name in ("web", "worker", "scheduler"):
        stack.start(name)
    people = addresses("crowd", 40)
    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(stack.sign_up, people))
    assert [status for status, _ in answers] == [303] * 40
    rows = stack.wait_settled(people)
    assert {rows[a][0] for a in people} == {"sent"}
    with stack.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 40
    stack.assert_exactly_one_mail_each(people)
    assert len(stack.sink.handler.messages) == 40
    stack.assert_no_500()
