"""The outbox's own rules on the real database and Redis: what a claim takes, batches, wake-ups, outcomes."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from app import outbox
from app.extensions import db, get_redis
from app.models import OutboxMail, User, utcnow
from app.queues import get_queue
from jobs import mail, smtp
from tests.helpers import new_mail
from tests.helpers import outbox_row as row


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app
    smtp.close()


def set_row(outbox_id, **values):
    db.session.execute(OutboxMail.__table__.update().where(OutboxMail.id == outbox_id).values(**values))
    db.session.commit()


def backlog(count, prefix="bulk"):
    """`count` due verification rows for one account, inserted in one statement, as a burst of sign-ups."""
    owner = new_mail(f"{prefix}-owner@example.com")
    set_row(owner, status=OutboxMail.SENT)
    now = utcnow() - timedelta(seconds=1)
    db.session.execute(insert(OutboxMail), [dict(kind="verify", recipient=f"{prefix}{i}@example.com",
                                                 user_id=row(owner).user_id, params={}, next_attempt_at=now)
                                            for i in range(count)])
    db.session.commit()
    return db.session.scalars(select(OutboxMail.id).where(OutboxMail.id != owner).order_by(OutboxMail.id)).all()


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
    assert sorted(claimed) == ids and len(claimed) == len(set(claimed))


def test_wake_queues_one_drain_until_that_drain_starts(ctx):
    for _ in range(3):
        outbox.wake()
    assert [job.func_name for job in get_queue("mail").jobs] == ["jobs.mail.drain"]
    mail.drain_started()  # from here on a drain may already have claimed: a new sign-up needs a new one
    assert outbox.wake() is not None and get_queue("mail").count == 2


def test_a_full_batch_wakes_another_drain_and_every_row_goes_once(ctx, mailbox, run_jobs):
    ids = backlog(mail.BATCH + 3)
    outbox.wake()
    run_jobs()
    messages = mailbox.wait_for(lambda ms: len(ms) == len(ids), timeout=60)
    assert sorted(m.recipients[0] for m in messages) == sorted(row(i).recipient for i in ids)
    assert {row(i).status for i in ids} == {OutboxMail.SENT} and {row(i).attempts for i in ids} == {1}
    assert get_redis().get(outbox.WAKE_KEY) is None and get_queue("mail").count == 0


def test_one_batch_records_each_outcome_on_its_own_row(make_app, mailbox):
    app = make_app(MAIL_RETRY_INTERVALS="30")
    mailbox.refused, mailbox.defer_next = {"nobody@example.com"}, 1  # 451 to the first DATA, 550 at RCPT
    with app.app_context():
        deferred, sent, refused = (new_mail(a) for a in ("later@example.com", "ok@example.com", "nobody@example.com"))
        assert mail.drain() == {"retrying": 1, "sent": 1, "failed": 1}
        assert [(row(i).status, row(i).attempts) for i in (deferred, sent, refused)] == [
            (OutboxMail.PENDING, 1), (OutboxMail.SENT, 1), (OutboxMail.FAILED, 1)]
        assert "451" in row(deferred).last_error and "550" in row(refused).last_error
        assert get_queue("mail").scheduled_job_registry.get_job_ids() == [f"mail-{deferred}-1"]
        smtp.close()
    assert [m.recipients for m in mailbox.messages] == [["ok@example.com"]]


def test_a_slow_provider_gets_the_untried_rest_of_the_batch_back(make_app, mailbox, run_jobs):
    app = make_app(MAIL_TIMEOUT="1")  # the drain starts no new send after one second
    mailbox.delay = 0.6
    with app.app_context():
        ids = backlog(4)
        outcome = mail.drain()
        assert outcome["sent"] >= 1 and outcome["released"] >= 1 and sum(outcome.values()) == len(ids)
        released = [i for i in ids if row(i).status == OutboxMail.PENDING]
        assert len(released) == outcome["released"] and {row(i).attempts for i in released} == {0}
        assert get_queue("mail").count == 1  # a drain to take them next
        mailbox.delay = 0
        run_jobs()
        assert {row(i).status for i in ids} == {OutboxMail.SENT}
        smtp.close()
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
    assert mailbox.messages == [] and mail.redrive(0) == 0


def test_compose_refuses_a_kind_the_worker_could_not_render(ctx):
    with pytest.raises(ValueError, match="unknown mail kind 'welcome'"):
        outbox.compose("welcome", "x@example.com")
