"""The mail provider's limits: MAIL_MAX_PER_SECOND shared by every worker, a "slow down" reply pausing the whole
drain, and MAIL_CONNECTIONS sessions per worker, on the real Redis and SMTP sink (and the Procfile's worker).
"""
import re
import smtplib
import threading
import time

import pytest
from redis import Redis
from rq import Worker
from sqlalchemy import select

from app import outbox
from app.extensions import db
from app.models import OutboxMail
from app.queues import get_queue
from jobs import mail, sendrate, smtp
from tests.helpers import backlog, new_mail
from tests.helpers import outbox_row as row
from tests.services import Process, wait_until


@pytest.fixture
def gates(redis_server):
    """gates(per_second) -> a Gate on its own Redis connection, as each worker process has one."""
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    made = []

    def make(per_second=0, in_flight_seconds=30):
        made.append(Redis.from_url(redis_server.url))
        return sendrate.Gate(made[-1], per_second, in_flight_seconds)

    yield make
    connection.flushdb()


def script_calls(redis):
    """How many times the gate's scripts ran since the last CONFIG RESETSTAT: a waiting worker must not spin."""
    return sum(stats["calls"] for name, stats in redis.info("commandstats").items()
               if name in ("cmdstat_evalsha", "cmdstat_eval"))


def busiest_second(moments):
    """The most moments in any one-second window [t, t + 1)."""
    return max(sum(1 for m in moments if start <= m < start + 1) for start in moments)


# The gate on its own: one rate for every worker, a shared pause, bounded waits.

def test_an_unlimited_gate_grants_at_once_and_keeps_no_record(gates, redis_server):
    assert gates().acquire() == ("", 0)
    assert Redis.from_url(redis_server.url).keys("*") == []


def test_a_second_worker_waits_its_turn(gates):
    first, second = gates(per_second=1), gates(per_second=1)
    token, delay = first.acquire()
    assert token
    assert delay == 0
    token, delay = second.acquire()
    assert token is None
    assert 0 < delay <= 1  # one send a second, whoever sends it


def test_no_second_holds_more_sends_than_the_rate_across_workers(gates):
    """Four senders on two connections send as fast as the gate lets them; a send's moment lies between its
    grant and its done, as the provider's acceptance does."""
    per_second, each = 20, 12
    moments, lock = [], threading.Lock()

    def sender(gate):
        for _ in range(each):
            token = gate.wait(time.monotonic() + 10)
            assert token
            with lock:
                moments.append(time.time())
            gate.done(token)

    pairs = [gates(per_second=per_second), gates(per_second=per_second)]
    threads = [threading.Thread(target=sender, args=(pairs[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(moments) == 4 * each
    assert busiest_second(moments) <= per_second


def test_a_send_in_flight_keeps_its_place_until_it_is_done(gates):
    first, second = gates(per_second=1), gates(per_second=1)
    token = first.wait(time.monotonic() + 5)
    assert token
    assert second.wait(time.monotonic() + 1.5) is None  # a second later the first send has not finished
    first.done(token)
    assert second.wait(time.monotonic() + 3)  # one second after it finished


def test_a_pause_stops_every_worker_and_is_never_shortened(gates):
    first, second = gates(), gates(per_second=50)
    first.pause(5)
    first.pause(0.1)  # a shorter pause asked later does not end the longer one
    for gate in (first, second):
        token, delay = gate.acquire()
        assert token is None
        assert 1 < delay <= 5


def test_a_waiting_worker_sleeps_the_reported_delay_without_spinning(gates, redis_server):
    redis = Redis.from_url(redis_server.url)
    gate = gates()
    gate.pause(0.5)
    redis.config_resetstat()
    assert gate.wait(time.monotonic() + 5) == ""
    assert script_calls(redis) <= 3


def test_a_wait_ends_at_the_deadline_when_the_pause_outlasts_it(gates, redis_server):
    redis = Redis.from_url(redis_server.url)
    gate = gates()
    gate.pause(30)
    redis.config_resetstat()
    started = time.monotonic()
    assert gate.wait(started + 0.3) is None
    assert time.monotonic() - started >= 0.3  # it waited for the deadline rather than giving the mail up at once
    assert script_calls(redis) <= 2


@pytest.mark.parametrize("code,text,slow", [
    (421, "4.7.0 Try again later, closing connection", True),  # Gmail's throttle; any 421 ends the session
    (454, "Throttling failure: Maximum sending rate exceeded.", True),  # Amazon SES
    (451, "4.7.500 Server busy. Please try again later.", True),  # Microsoft 365
    (452, "4.3.1 Insufficient system resources", True),
    (451, "4.4.5 System congestion", True),
    (451, "4.3.0 Try again later", False),  # greylisting: that mail, later
    (450, "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages",
     False),  # one recipient's own rate
    (452, "4.2.2 Mailbox full", False),
    (550, "5.7.1 Rate limit exceeded", False),  # permanent: fails that mail, as before
])
def test_which_replies_mean_slow_down(code, text, slow):
    assert smtp.is_slow_down(smtplib.SMTPDataError(code, text.encode())) is slow
    refused = smtplib.SMTPRecipientsRefused({"a@example.com": (code, text.encode())})
    assert smtp.is_slow_down(refused) is slow


# The drain under the limits, in this process.

def test_a_slow_down_reply_pauses_the_whole_drain_and_retries_that_mail(make_app, mailbox):
    app = make_app(MAIL_TIMEOUT="1", MAIL_RETRY_INTERVALS="30", HEALTHZ_TOKEN="look", METRICS_TOKEN="scrape")
    mailbox.defer_next, mailbox.defer_reply = 1, "421 4.7.0 Try again later, closing connection"
    with app.app_context():
        throttled, *others = (new_mail(f"pause{i}@example.com") for i in range(3))
        assert mail.drain() == {"retrying": 1, "released": 2}  # the others wait for the pause, then go back
        assert (row(throttled).status, row(throttled).attempts) == (OutboxMail.PENDING, 1)
        assert "421" in row(throttled).last_error
        assert {(row(i).status, row(i).attempts) for i in others} == {(OutboxMail.PENDING, 0)}
        token, delay = sendrate.gate().acquire()  # every worker sees the pause, for the mail's retry interval
        assert token is None
        assert 25 < delay <= 30
        smtp.close_all()
    assert mailbox.messages == []
    operator = app.test_client()
    health = operator.get("/healthz", headers={"Authorization": "Bearer look"}).get_json()  # the operator sees it too
    assert 25 < health["mail_paused_seconds"] <= 30
    assert any("asked us to slow down" in warning for warning in health["warnings"])
    metrics = operator.get("/metrics", headers={"Authorization": "Bearer scrape"}).get_data(as_text=True)
    assert 25 < float(re.search(r"^signup_mail_paused_seconds (\S+)$", metrics, re.M).group(1)) <= 30


def test_mail_connections_sends_over_that_many_kept_sessions(make_app, mailbox):
    app = make_app(MAIL_CONNECTIONS="3")
    mailbox.delay = 0.1
    with app.app_context():
        ids = backlog(6)
        assert mail.drain() == {"sent": 6}
        first = {m.peer for m in mailbox.messages}
        more = backlog(3, prefix="more")
        assert mail.drain() == {"sent": 3}
        assert {row(i).attempts for i in ids + more} == {1}
        smtp.close_all()
    assert len(first) == 3
    assert {m.peer for m in mailbox.messages} <= first  # the sessions stay open between drains: none is new
    assert sorted(m.recipients[0] for m in mailbox.messages) == sorted(
        [f"bulk{i}@example.com" for i in range(6)] + [f"more{i}@example.com" for i in range(3)])


def test_a_drain_claims_no_more_than_its_budget_sends_at_the_rate(make_app, mailbox):
    app = make_app(MAIL_MAX_PER_SECOND="2", MAIL_TIMEOUT="1")
    with app.app_context():
        ids = backlog(5)
        assert mail.drain() == {"sent": 2}
        assert [row(i).status for i in ids].count(OutboxMail.PENDING) == 3
        assert {row(i).attempts for i in ids if row(i).status == OutboxMail.PENDING} == {0}
        assert get_queue("mail").count == 1  # a full (rate-sized) batch wakes the next drain
        smtp.close_all()


# The Procfile's worker: two workers, two connections each, one rate.

@pytest.mark.processes
def test_two_workers_keep_to_the_provider_rate_and_send_each_mail_once(make_app, app_env, tmp_path, mailbox):
    rate, count = 50, 200
    settings = {"MAIL_MAX_PER_SECOND": str(rate), "MAIL_CONNECTIONS": "2", "WORKER_CONCURRENCY": "2"}
    app = make_app(**settings)
    worker = Process("worker", {**app_env, **settings}, str(tmp_path)).start()
    try:
        redis = Redis.from_url(app_env["REDIS_URL"])
        wait_until(lambda: Worker.count(connection=redis) >= 2, timeout=60, message="two workers up")
        with app.app_context():
            ids = backlog(count)
            queued = time.time()
            outbox.wake()
            mailbox.wait_for(lambda messages: len(messages) >= count, timeout=60)
            wait_until(lambda: db.session.scalars(select(OutboxMail.status).where(OutboxMail.id.in_(ids))).all()
                       == [OutboxMail.SENT] * count, timeout=30, message="every row marked sent")
            assert {row(i).attempts for i in ids} == {1}
    finally:
        worker.stop()
    moments = sorted(m.received_at for m in mailbox.messages)
    busiest = busiest_second(moments)
    print(f"{count} mails in {moments[-1] - queued:.2f} s, at most {busiest} in one second")
    assert moments[-1] - queued >= count / rate  # 200 mails at 50 a second: four seconds at least
    assert busiest <= rate
    assert sorted(m.recipients[0] for m in mailbox.messages) == sorted(f"bulk{i}@example.com" for i in range(count))
    assert "Traceback" not in worker.log()
