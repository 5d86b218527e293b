"""The mail jobs against the real SMTP sink: claim once, classify failures, keep one trustworthy connection."""
import pytest
from redis import Redis
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from app import outbox
from app.extensions import db
from app.models import Event, OutboxMail
from app.queues import get_queue
from jobs import mail, smtp
from tests.helpers import code_in, new_mail
from tests.helpers import outbox_row as row
from tests.services import SmtpSink, free_port


def events(kind):
    return db.session.scalars(select(Event).where(Event.kind == kind)).all()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app
    smtp.close()


def test_send_delivers_once_and_marks_the_row_sent(ctx, mailbox, run_jobs):
    outbox_id = new_mail("ada@example.com")
    outbox.wake()
    outbox.wake()  # a second wake-up while a drain waits is not queued
    assert get_queue("mail").count == 1
    run_jobs()
    [received] = mailbox.wait_for()
    assert received.recipients == ["ada@example.com"] and "http://localhost:5000/auth/verify/" in received.text
    assert code_in(received)
    sent = row(outbox_id)
    assert (sent.status, sent.attempts, sent.lease_until, sent.last_error) == (OutboxMail.SENT, 1, None, None)
    assert len(events(Event.MAIL_SENT)) == 1
    assert mail.send(outbox_id) == "skipped"  # a late or repeated job finds the row sent
    assert len(mailbox.messages) == 1


def test_a_row_claimed_by_a_live_sender_is_not_claimed_again(ctx, mailbox):
    outbox_id = new_mail("bob@example.com")
    assert [r.id for r in mail.claim([outbox_id])] == [outbox_id]
    assert mail.claim([outbox_id]) == [] and mail.claim() == []  # the lease holds
    assert mail.send(outbox_id) == "skipped" and mailbox.messages == []


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
        smtp.close()


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
    assert failed.status == OutboxMail.FAILED and failed.attempts == 1
    assert "550" in failed.last_error and "No such mailbox" in failed.last_error
    assert [e.detail for e in events(Event.MAIL_FAILED)] == ["verify"]
    assert ScheduledJobRegistry("mail", connection=get_queue("mail").connection).count == 0


def test_a_server_that_never_answers_costs_one_timeout_not_the_job(make_app, mailbox):
    app = make_app(MAIL_TIMEOUT="1")
    mailbox.delay = 3
    with app.app_context():
        outbox_id = new_mail("eve@example.com")
        assert mail.send(outbox_id) == "retrying"
        assert "timed out" in row(outbox_id).last_error
        smtp.close()


def test_one_connection_serves_many_mails_and_a_dropped_one_is_replaced(make_app):
    sink = SmtpSink().start()
    app = make_app(MAIL_PORT=str(sink.port))
    try:
        with app.app_context():
            first, second, third = (new_mail(f"u{i}@example.com") for i in range(3))
            assert mail.send(first) == "sent"
            socket = smtp._cached["connection"].host.sock
            assert mail.send(second) == "sent"
            assert smtp._cached["connection"].host.sock is socket
            sink.stop()  # the provider restarts: the kept session is gone
            sink.start()
            assert mail.send(third) == "sent"  # first try, on a fresh connection
            assert row(third).attempts == 1 and smtp._cached["connection"].host.sock is not socket
        assert sorted(r for m in sink.handler.messages for r in m.recipients) == [
            "u0@example.com", "u1@example.com", "u2@example.com"]
    finally:
        smtp.close()
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
