"""Mail, the worker's half and the web's, on the real database, Redis and SMTP sink.

What a claim takes, batches and wake-ups; sending once, classifying failures, one trustworthy connection;
the redrive and the `flask mail` commands bringing lost wake-ups back, once. The fault tests with the real
processes are in tests/test_reliability.py, the "check your inbox" state in tests/test_delivery.py.
"""
import threading
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from app import outbox
from app.extensions import db, get_redis
from app.models import Event, OutboxMail, User, utcnow
from app.queues import get_queue
from jobs import mail, smtp
from tests.helpers import backlog, code_in, new_mail
from tests.helpers import outbox_row as row
from tests.services import SmtpSink, free_port


# The mail jobs against the real SMTP sink: claim once, classify failures, keep one trustworthy connection.

def events(kind):
    return db.session.scalars(select(Event).where(Event.kind == kind)).all()


def test_send_delivers_once_and_marks_the_row_sent(ctx, mailbox, run_jobs):
    outbox_id = new_mail("ada@example.com")
    outbox.wake()
    outbox.wake()  # a second wake-up while a drain waits is not queued
    assert get_queue("mail").count == 1
    run_jobs()
    [received] = mailbox.wait_for()
    assert received.recipients == ["ada@example.com"]
    assert "http://localhost:5000/auth/verify/" in received.text
    assert code_in(received)
    sent = row(outbox_id)
    assert (sent.status, sent.attempts, sent.lease_until, sent.last_error) == (OutboxMail.SENT, 1, None, None)
    assert len(events(Event.MAIL_SENT)) == 1
    assert mail.send(outbox_id) == "skipped"  # a late or repeated job finds the row sent
    assert len(mailbox.messages) == 1


def test_a_row_claimed_by_a_live_sender_is_not_claimed_again(ctx, mailbox):
    outbox_id = new_mail("bob@example.com")
    assert [r.id for r in mail.claim([outbox_id])] == [outbox_id]
    assert mail.claim([outbox_id]) == []
    assert mail.claim() == []  # the lease holds
    assert mail.send(outbox_id) == "skipped"
    assert mailbox.messages == []


def test_deferred_mail_waits_for_its_interval_with_a_precise_wake_up(make_app, mailbox):
    app = make_app(MAIL_RETRY_INTERVALS="30,60")
    mailbox.defer_next = 1
    with app.app_context():
        outbox_id = new_mail("cy@example.com")
        assert mail.send(outbox_id) == "retrying"
        waiting = row(outbox_id)
        assert (waiting.status, waiting.attempts) == (OutboxMail.PENDING, 1)
        assert "451" in waiting.last_error
        assert mail.send(outbox_id) == "skipped"  # not due yet
        registry = ScheduledJobRegistry("mail", connection=get_queue("mail").connection)
        assert registry.get_job_ids() == [f"mail-{outbox_id}-1"]
        smtp.sender().close()


def test_temporary_failures_end_failed_after_the_last_interval(make_app):
    app = make_app(MAIL_PORT=str(free_port()), MAIL_RETRY_INTERVALS="1")  # nothing listens: refused
    with app.app_context():
        outbox_id = new_mail("dee@example.com")
        assert mail.send(outbox_id) == "retrying"
        assert "ConnectionRefused" in row(outbox_id).last_error
        db.session.execute(OutboxMail.__table__.update().values(next_attempt_at=OutboxMail.created_at))
        db.session.commit()
        assert mail.send(outbox_id) == "failed"
        failed = row(outbox_id)
        assert (failed.status, failed.attempts) == (OutboxMail.FAILED, 2)
        assert len(events(Event.MAIL_FAILED)) == 1


def test_unknown_mailbox_fails_at_once_with_the_reason(ctx, mailbox):
    mailbox.refused = {"nobody@example.com"}
    outbox_id = new_mail("nobody@example.com")
    assert mail.send(outbox_id) == "failed"
    failed = row(outbox_id)
    assert failed.status == OutboxMail.FAILED
    assert failed.attempts == 1
    assert "550" in failed.last_error
    assert "No such mailbox" in failed.last_error
    assert [e.detail for e in events(Event.MAIL_FAILED)] == ["verify"]
    assert ScheduledJobRegistry("mail", connection=get_queue("mail").connection).count == 0


def test_a_server_that_never_answers_costs_one_timeout_not_the_job(make_app, mailbox):
    app = make_app(MAIL_TIMEOUT="1")
    mailbox.delay = 3
    with app.app_context():
        outbox_id = new_mail("eve@example.com")
        assert mail.send(outbox_id) == "retrying"
        assert "timed out" in row(outbox_id).last_error
        smtp.sender().close()


def test_one_connection_serves_many_mails_and_a_dropped_one_is_replaced(make_app):
    sink = SmtpSink().start()
    app = make_app(MAIL_PORT=str(sink.port))
    try:
        with app.app_context():
            first, second, third = (new_mail(f"u{i}@example.com") for i in range(3))
            assert mail.send(first) == "sent"
            socket = smtp.sender().connection.host.sock
            assert mail.send(second) == "sent"
            assert smtp.sender().connection.host.sock is socket
            sink.stop()  # the provider restarts: the kept session is gone
            sink.start()
            assert mail.send(third) == "sent"  # first try, on a fresh connection
            assert row(third).attempts == 1
            assert smtp.sender().connection.host.sock is not socket
        assert sorted(r for m in sink.handler.messages for r in m.recipients) == [
            "u0@example.com", "u1@example.com", "u2@example.com"]
    finally:
        with app.app_context():
            smtp.sender().close()
        sink.stop()


def test_enqueue_with_redis_down_gives_up_fast_and_never_raises(make_app, redis_server):
    import time

    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with app.app_context():
        new_mail("fay@example.com")
        start = time.perf_counter()
        assert outbox.wake() is None
        assert time.perf_counter() - start < 5  # a refused connection, no retries: milliseconds, not a hang
    assert Redis.from_url(redis_server.url).dbsize() == 0


# The redrive and the `flask mail` commands: lost wake-ups come back, once, and nothing blocks them.

def age(outbox_id, seconds, **values):
    """Move a row into the past, as if its wake-up had been lost that long ago."""
    db.session.execute(OutboxMail.__table__.update().where(OutboxMail.id == outbox_id).values(
        next_attempt_at=utcnow() - timedelta(seconds=seconds), **values))
    db.session.commit()


def test_redrive_wakes_rows_whose_job_was_lost_and_leaves_fresh_ones(ctx, mailbox, run_jobs):
    fresh = new_mail("fresh@example.com")
    assert mail.redrive() == 0
    assert get_queue("mail").count == 0  # its own wake-up has the grace to run
    lost = new_mail("lost@example.com")
    age(lost, 120)  # never enqueued (Redis was down at sign-up), past the 60 s grace
    assert mail.redrive() == 1
    run_jobs()
    # The drain takes every due row: the fresh one goes out with it, each exactly once.
    assert sorted(m.recipients[0] for m in mailbox.wait_for(lambda ms: len(ms) == 2)) == [
        "fresh@example.com", "lost@example.com"]
    assert row(lost).status == OutboxMail.SENT
    assert row(fresh).status == OutboxMail.SENT
    assert mail.redrive() == 0


def test_sweeps_while_no_worker_runs_queue_one_wake_up(ctx, mailbox, run_jobs):
    ids = [new_mail(f"idle{i}@example.com") for i in range(3)]
    for outbox_id in ids:
        age(outbox_id, 120)
    for _ in range(5):
        assert mail.redrive() == 3
    assert [job.func_name for job in get_queue("mail").jobs] == ["jobs.mail.drain"]  # one drain for all rows
    run_jobs()
    assert len(mailbox.wait_for(lambda ms: len(ms) == 3)) == 3


def test_a_failed_job_record_does_not_block_the_next_wake_up(ctx, mailbox, run_jobs):
    outbox_id = new_mail("blocked@example.com")
    job = get_queue("mail").enqueue("builtins.int", "not a number", job_id="mail-drain-broken")
    get_redis().set(outbox.WAKE_KEY, job.id)  # the wake-up flag names a job that failed before it drained
    run_jobs()
    assert job.get_status() == JobStatus.FAILED
    assert outbox.wake() is None  # a sign-up trusts the flag...
    age(outbox_id, 120)
    assert mail.redrive() == 1
    run_jobs()
    assert mailbox.wait_for()[0].recipients == ["blocked@example.com"]


def test_a_drain_taken_off_the_queue_by_a_worker_that_died_does_not_block_the_next_wake_up(ctx, mailbox, run_jobs):
    """rq takes a job off its queue, then marks it started: a worker lost in between (killed, or its Redis
    failing over) leaves the job "queued" in no queue, and nothing will run it."""
    outbox_id = new_mail("stranded@example.com")
    queue = get_queue("mail")
    stranded = outbox.wake()  # the sign-up's drain
    assert Queue.dequeue_any([queue], None, connection=queue.connection)[0].id == stranded.id  # and the worker dies
    assert stranded.get_status() == JobStatus.QUEUED
    age(outbox_id, 120)
    assert mail.redrive() == 1
    assert [job.func_name for job in queue.jobs] == ["jobs.mail.drain"]
    run_jobs()
    assert mailbox.wait_for()[0].recipients == ["stranded@example.com"]


def test_an_expired_lease_is_taken_over_and_a_live_one_is_not(ctx, mailbox, run_jobs):
    dead, live = new_mail("dead@example.com"), new_mail("live@example.com")
    now = utcnow()
    age(dead, 0, status=OutboxMail.SENDING, attempts=1, lease_until=now - timedelta(seconds=1))
    age(live, 0, status=OutboxMail.SENDING, attempts=1, lease_until=now + timedelta(seconds=60))
    assert mail.redrive() == 1
    run_jobs()
    assert [m.recipients for m in mailbox.wait_for()] == [["dead@example.com"]]
    assert (row(dead).status, row(dead).attempts) == (OutboxMail.SENT, 2)
    assert row(live).status == OutboxMail.SENDING


def test_a_mail_whose_senders_keep_dying_ends_failed(make_app, mailbox):
    app = make_app(MAIL_RETRY_INTERVALS="1,1")
    with app.app_context():
        outbox_id = new_mail("poison@example.com")
        age(outbox_id, 0, status=OutboxMail.SENDING, attempts=3, lease_until=utcnow() - timedelta(seconds=1))
        assert mail.send(outbox_id) == "failed"
        assert "stopped during every attempt" in row(outbox_id).last_error
    assert mailbox.messages == []


def test_mail_status_lists_pending_and_failed(ctx, mailbox):
    pending, failed = new_mail("wait@example.com"), new_mail("gone@example.com")
    mailbox.refused = {"gone@example.com"}
    mail.send(failed)
    result = ctx.test_cli_runner().invoke(args=["mail", "status"])
    assert result.exit_code == 0
    assert "wait@example.com" in result.output
    assert "gone@example.com" in result.output
    assert "550" in result.output
    assert "pending" in result.output
    assert "failed" in result.output
    assert str(pending) in result.output


def test_mail_retry_puts_failed_mail_back_and_wakes_the_worker(ctx, mailbox, run_jobs):
    mailbox.refused = {"fixed@example.com", "later@example.com"}
    first, second = new_mail("fixed@example.com"), new_mail("later@example.com")
    mail.send(first), mail.send(second)
    mailbox.refused = set()  # the recipient's mailbox exists now
    runner = ctx.test_cli_runner()
    result = runner.invoke(args=["mail", "retry", str(first)])
    assert result.exit_code == 0
    assert f"1 mail(s) put back: {first}" in result.output
    assert (row(first).status, row(first).attempts) == (OutboxMail.PENDING, 0)
    run_jobs()
    assert [m.recipients for m in mailbox.wait_for()] == [["fixed@example.com"]]
    assert runner.invoke(args=["mail", "retry", "--failed"]).exit_code == 0
    run_jobs()
    assert len(mailbox.wait_for(lambda ms: len(ms) == 2)) == 2
    assert row(second).status == OutboxMail.SENT


@pytest.mark.parametrize("args,code,message", [([], 2, "give mail ids or --failed"),
                                               (["1", "--failed"], 2, "not both"),
                                               (["999"], 1, "no unsent mail with id 999"),
                                               (["abc"], 2, "not a valid integer")])
def test_mail_retry_refuses_bad_input_clearly(ctx, args, code, message):
    result = ctx.test_cli_runner().invoke(args=["mail", "retry", *args])
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_overdue_scheduled_wake_up_is_replaced_by_a_queued_one(make_app, mailbox, run_jobs):
    """Workers started without rq's scheduler never move scheduled jobs: the sweep must not wait for them."""
    app = make_app(MAIL_RETRY_INTERVALS="1")
    mailbox.defer_next = 1
    with app.app_context():
        outbox_id = new_mail("greylisted@example.com")
        assert mail.send(outbox_id) == "retrying"
        registry = ScheduledJobRegistry("mail", connection=get_queue("mail").connection)
        assert registry.get_job_ids() == [f"mail-{outbox_id}-1"]
        age(outbox_id, 120)
        assert mail.redrive() == 1
        assert registry.count == 0
        assert [job.func_name for job in get_queue("mail").jobs] == ["jobs.mail.drain"]
        run_jobs()
        assert row(outbox_id).status == OutboxMail.SENT
        smtp.sender().close()
    assert len(mailbox.wait_for()) == 1


# The outbox's own rules on the real database and Redis: what a claim takes, batches, wake-ups, outcomes.

def set_row(outbox_id, **values):
    db.session.execute(OutboxMail.__table__.update().where(OutboxMail.id == outbox_id).values(**values))
    db.session.commit()


def test_a_claim_takes_due_rows_and_lapsed_leases_only_and_never_twice(ctx):
    now = utcnow()
    due, later, failed, held, abandoned = (new_mail(f"{name}@example.com")
                                           for name in ("due", "later", "failed", "held", "abandoned"))
    set_row(later, next_attempt_at=now + timedelta(minutes=5))
    set_row(failed, status=OutboxMail.FAILED)
    set_row(held, status=OutboxMail.SENDING, attempts=1, lease_until=now + timedelta(minutes=1))
    set_row(abandoned, status=OutboxMail.SENDING, attempts=1, lease_until=now - timedelta(seconds=1))
    claimed = mail.claim()
    assert [(r.id, r.attempts) for r in claimed] == [(due, 1), (abandoned, 2)]
    assert {row(i).status for i in (due, abandoned)} == {OutboxMail.SENDING}
    assert row(due).lease_until > utcnow() + timedelta(seconds=mail.lease_seconds() - 5)
    assert mail.claim() == []
    assert (row(later).status, row(failed).status, row(held).attempts) == (OutboxMail.PENDING, OutboxMail.FAILED, 1)


def test_a_claim_takes_at_most_a_batch_oldest_due_first(ctx):
    ids = backlog(5)
    set_row(ids[-1], next_attempt_at=utcnow() - timedelta(hours=1))  # waited longest
    assert [r.id for r in mail.claim(limit=2)] == sorted([ids[-1], ids[0]])
    assert [r.id for r in mail.claim(limit=2)] == ids[1:3]
    assert [r.id for r in mail.claim(limit=10)] == [ids[3]]


def test_concurrent_claims_share_the_rows_without_overlap(ctx):
    ids = backlog(60)
    results, errors = [], []

    def claimer():
        try:
            with ctx.app_context():
                while rows := mail.claim(limit=7):
                    results.append([r.id for r in rows])
        except Exception as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    claimed = [outbox_id for batch in results for outbox_id in batch]
    assert sorted(claimed) == ids
    assert len(claimed) == len(set(claimed))


def test_wake_queues_one_drain_until_that_drain_starts(ctx):
    for _ in range(3):
        outbox.wake()
    assert [job.func_name for job in get_queue("mail").jobs] == ["jobs.mail.drain"]
    mail.drain_started()  # from here on a drain may already have claimed: a new sign-up needs a new one
    assert outbox.wake() is not None
    assert get_queue("mail").count == 2


def test_a_full_batch_wakes_another_drain_and_every_row_goes_once(ctx, mailbox, run_jobs):
    ids = backlog(mail.BATCH + 3)
    outbox.wake()
    run_jobs()
    messages = mailbox.wait_for(lambda ms: len(ms) == len(ids), timeout=60)
    assert sorted(m.recipients[0] for m in messages) == sorted(row(i).recipient for i in ids)
    assert {row(i).status for i in ids} == {OutboxMail.SENT}
    assert {row(i).attempts for i in ids} == {1}
    assert get_redis().get(outbox.WAKE_KEY) is None
    assert get_queue("mail").count == 0


def test_one_batch_records_each_outcome_on_its_own_row(make_app, mailbox):
    app = make_app(MAIL_RETRY_INTERVALS="30")
    mailbox.refused, mailbox.defer_next = {"nobody@example.com"}, 1  # 451 to the first DATA, 550 at RCPT
    with app.app_context():
        deferred, sent, refused = (new_mail(a) for a in ("later@example.com", "ok@example.com", "nobody@example.com"))
        assert mail.drain() == {"retrying": 1, "sent": 1, "failed": 1}
        assert [(row(i).status, row(i).attempts) for i in (deferred, sent, refused)] == [
            (OutboxMail.PENDING, 1), (OutboxMail.SENT, 1), (OutboxMail.FAILED, 1)]
        assert "451" in row(deferred).last_error
        assert "550" in row(refused).last_error
        assert get_queue("mail").scheduled_job_registry.get_job_ids() == [f"mail-{deferred}-1"]
        smtp.sender().close()
    assert [m.recipients for m in mailbox.messages] == [["ok@example.com"]]


def test_a_slow_provider_gets_the_untried_rest_of_the_batch_back(make_app, mailbox, run_jobs):
    app = make_app(MAIL_TIMEOUT="1")  # the drain starts no new send after one second
    mailbox.delay = 0.6
    with app.app_context():
        ids = backlog(4)
        outcome = mail.drain()
        assert outcome["sent"] >= 1
        assert outcome["released"] >= 1
        assert sum(outcome.values()) == len(ids)
        released = [i for i in ids if row(i).status == OutboxMail.PENDING]
        assert len(released) == outcome["released"]
        assert {row(i).attempts for i in released} == {0}
        assert get_queue("mail").count == 1  # a drain to take them next
        mailbox.delay = 0
        run_jobs()
        assert {row(i).status for i in ids} == {OutboxMail.SENT}
        smtp.sender().close()
    assert len(mailbox.wait_for(lambda ms: len(ms) == len(ids))) == len(ids)


def test_mail_whose_purpose_is_gone_is_cancelled_not_sent(ctx, mailbox):
    verified, deleted = new_mail("verified@example.com"), new_mail("deleted@example.com")
    owners = [db.session.get(User, row(i).user_id) for i in (verified, deleted)]
    owners[0].verified_at = utcnow()
    db.session.delete(owners[1])
    db.session.commit()
    assert row(deleted).user_id is None
    assert mail.drain() == {"cancelled": 2}
    assert [(row(i).status, row(i).last_error) for i in (verified, deleted)] == [
        (OutboxMail.CANCELLED, "the address was verified before the mail went out"),
        (OutboxMail.CANCELLED, "the account no longer exists")]
    assert mailbox.messages == []
    assert mail.redrive(0) == 0


def test_compose_refuses_a_kind_the_worker_could_not_render(ctx):
    with pytest.raises(ValueError, match="unknown mail kind 'welcome'"):
        outbox.compose("welcome", "x@example.com")
