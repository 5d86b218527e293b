"""The redrive and the `flask mail` commands: lost wake-ups come back, once, and nothing blocks them."""
from datetime import timedelta

import pytest
from rq.job import JobStatus
from rq.registry import ScheduledJobRegistry

from app import outbox
from app.extensions import db, get_redis
from app.models import OutboxMail, utcnow
from app.queues import get_queue
from jobs import mail, smtp
from tests.helpers import new_mail
from tests.helpers import outbox_row as row


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app
    smtp.close()


def age(outbox_id, seconds, **values):
    """Move a row into the past, as if its wake-up had been lost that long ago."""
    db.session.execute(OutboxMail.__table__.update().where(OutboxMail.id == outbox_id).values(
        next_attempt_at=utcnow() - timedelta(seconds=seconds), **values))
    db.session.commit()


def test_redrive_wakes_rows_whose_job_was_lost_and_leaves_fresh_ones(ctx, mailbox, run_jobs):
    fresh = new_mail("fresh@example.com")
    assert mail.redrive() == 0 and get_queue("mail").count == 0  # its own wake-up has the grace to run
    lost = new_mail("lost@example.com")
    age(lost, 120)  # never enqueued (Redis was down at sign-up), past the 60 s grace
    assert mail.redrive() == 1
    run_jobs()
    # The drain takes every due row: the fresh one goes out with it, each exactly once.
    assert sorted(m.recipients[0] for m in mailbox.wait_for(lambda ms: len(ms) == 2)) == [
        "fresh@example.com", "lost@example.com"]
    assert row(lost).status == OutboxMail.SENT and row(fresh).status == OutboxMail.SENT
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
    assert "wait@example.com" in result.output and "gone@example.com" in result.output
    assert "550" in result.output and "pending" in result.output and "failed" in result.output
    assert str(pending) in result.output


def test_mail_retry_puts_failed_mail_back_and_wakes_the_worker(ctx, mailbox, run_jobs):
    mailbox.refused = {"fixed@example.com", "later@example.com"}
    first, second = new_mail("fixed@example.com"), new_mail("later@example.com")
    mail.send(first), mail.send(second)
    mailbox.refused = set()  # the recipient's mailbox exists now
    runner = ctx.test_cli_runner()
    result = runner.invoke(args=["mail", "retry", str(first)])
    assert result.exit_code == 0 and f"1 mail(s) put back: {first}" in result.output
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
    assert result.exit_code == code and message in result.output
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
        assert registry.count == 0 and [job.func_name for job in get_queue("mail").jobs] == ["jobs.mail.drain"]
        run_jobs()
        assert row(outbox_id).status == OutboxMail.SENT
    smtp.close()
    assert len(mailbox.wait_for()) == 1
