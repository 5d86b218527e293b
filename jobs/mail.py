"""The worker's half of mail: drain the outbox in batches over the worker's SMTP connections, retry, redrive, purge.

The web side (app/outbox.py) adds rows and wakes a drain. Here a drain claims due rows under a lease
(only the claim hands a row to a sender, so a repeated, late or concurrent job sends nothing twice),
renders each from its account's current state (app/emails.py), sends it (jobs/smtp.py) and records the
outcome: sent, cancelled, retrying with a precise wake-up for the next attempt, or failed.
"""
import logging
import time
from collections import Counter
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError
from rq.job import JobStatus
from sqlalchemy import delete, insert, select, update

from app import emails, outbox
from app.extensions import db, get_redis
from app.models import Event, OutboxMail, User, utcnow
from app.queues import get_queue
from jobs import sendrate, smtp

log = logging.getLogger(__name__)

BATCH = 100  # rows per claim; a full batch wakes another drain so the pool shares the backlog
LEASE_MARGIN_SECONDS = 5  # time to record the outcome after the job timeout cut a send short
COMMIT_SECONDS = 0.02  # sent marks share one transaction for this long: a SIGKILL repeats those mails only


# The jobs.

def drain():
    """The coalesced wake-up: claim a batch of due rows and send them; returns {outcome: count}."""
    drain_started()
    size = batch_size()
    rows = claim(limit=size)
    if len(rows) == size:
        outbox.wake()  # there may be more: another worker takes the next batch meanwhile
    return deliver(rows)


def batch_size():
    """BATCH, or what the send budget lets one drain send at MAIL_MAX_PER_SECOND: claiming more would only
    give rows back (a claim and a release each) after the budget ran out."""
    per_second = current_app.config["MAIL_MAX_PER_SECOND"]
    return min(BATCH, max(1, int(per_second * outbox.send_budget_seconds()))) if per_second else BATCH


def send(outbox_id):
    """One row's precise wake-up (its next attempt after a temporary failure); returns what happened."""
    rows = claim(ids=[outbox_id])
    if not rows:
        return "skipped"  # sent, not due yet, or held by a live sender
    [outcome] = deliver(rows)
    return outcome


def deliver(rows):
    """Render every claimed row from its account's current state, then send them over MAIL_CONNECTIONS sessions.

    Rendering comes first so that committing outcomes (which expires the session) does not reload the
    accounts. Sent marks are committed together, COMMIT_SECONDS after the first of them: one
    write transaction per group instead of per mail, and a crash (SIGKILL) repeats only those mails.
    """
    users = users_of(rows)
    outcomes, ready = Counter(), []
    for row in rows:
        if row.attempts > max_attempts():
            # Only lease take-overs get here: the workers holding it died on every attempt.
            outcomes[record_failure(row, "the worker stopped during every attempt", permanent=True)] += 1
            continue
        try:
            ready.append((row, emails.message(row, users.get(row.user_id))))
        except emails.Cancelled as exc:
            outcomes[record_cancelled(row, str(exc))] += 1
        except Exception as exc:  # a broken template must not hold the rest of the batch
            outcomes[record_failure(row, smtp.describe(exc))] += 1
    # A slow provider, or the limits: what did not start in time goes back rather than outlive the lease.
    batch = smtp.Batch(ready, time.monotonic() + outbox.send_budget_seconds(), sendrate.gate(),
                       current_app.config["MAIL_CONNECTIONS"])
    sent, untried, first_sent_at = [], [], None
    try:
        for row, outcome in batch:
            if outcome is smtp.UNTRIED:
                untried.append(row)
                continue
            if outcome is not None:
                outcomes[record_failure(row, smtp.describe(outcome), permanent=smtp.is_permanent(outcome))] += 1
                continue
            sent.append(row)
            outcomes["sent"] += 1
            first_sent_at = first_sent_at or time.monotonic()
            if time.monotonic() - first_sent_at >= COMMIT_SECONDS:
                record_sent(sent)
                sent, first_sent_at = [], None
    finally:
        record_sent(sent + [row for row, outcome in batch.close() if outcome is None])
    if untried:
        release(untried)
        outcomes["released"] += len(untried)
    return dict(outcomes)

def redrive(grace_seconds=None, limit=1000):
    """The recurring job: wake a drain when rows' wake-ups must be presumed lost (Redis wiped, an enqueue
    failed, a worker killed); returns how many rows (up to `limit`) are so.

    The grace (one OUTBOX_SWEEP_SECONDS by default) leaves the wake-up queued at sign-up or after a failure
    time to run first. The precise wake-ups of overdue retries are stuck (no worker runs rq's scheduler, or
    it lagged): they are removed, so none lingers in Redis, and the drain sends those rows instead.
    """
    grace = current_app.config["OUTBOX_SWEEP_SECONDS"] if grace_seconds is None else grace_seconds
    rows = db.session.execute(select(OutboxMail.id, OutboxMail.attempts).where(outbox.claimable(grace))
                              .order_by(OutboxMail.id).limit(limit)).all()
    db.session.rollback()  # end the read transaction before the Redis calls
    if rows:
        try:
            queue = get_queue("mail")
            for outbox_id, attempts in rows:
                job_id = f"mail-{outbox_id}-{attempts}"
                if attempts and queue.scheduled_job_registry.remove(job_id) and (job := queue.fetch_job(job_id)):
                    job.delete()
        except RedisError as exc:
            log.warning("could not clear stuck mail wake-ups: %s", exc)
        outbox.wake(repair=True)
    return len(rows)


# The rows: claim under a lease, record each outcome, retry.

def lease_seconds():
    """Outlasts the job timeout, so a lapsed lease means the sender is gone, not slow."""
    return outbox.job_timeout() + LEASE_MARGIN_SECONDS


def max_attempts():
    return len(current_app.config["MAIL_RETRY_INTERVALS"]) + 1


def claim(ids=None, limit=BATCH):
    """Take up to `limit` claimable rows (only `ids`, if given) under a lease; no two senders get one row.

    One UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL). The rows are chosen in a CTE, which PostgreSQL
    evaluates once (as a plain subquery it may be re-run per row and take more than `limit`); it skips
    rows another claim has locked (SQLite runs one writer at a time), and the UPDATE re-checks the predicate.
    """
    now = utcnow()
    chosen = (select(OutboxMail.id).where(outbox.claimable(now=now))
              .order_by(OutboxMail.next_attempt_at, OutboxMail.id).limit(limit).with_for_update(skip_locked=True))
    if ids is not None:
        chosen = chosen.where(OutboxMail.id.in_(ids))
    chosen = chosen.cte("chosen")
    rows = db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id.in_(select(chosen.c.id)), outbox.claimable(now=now))
        .values(status=OutboxMail.SENDING, attempts=OutboxMail.attempts + 1,
                lease_until=now + timedelta(seconds=lease_seconds()), updated_at=now)
        .returning(OutboxMail.id, OutboxMail.kind, OutboxMail.recipient, OutboxMail.user_id,
                   OutboxMail.language, OutboxMail.params, OutboxMail.attempts)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted(rows, key=lambda row: row.id)


def users_of(rows):
    """The accounts the claimed rows are for, in one query: the worker renders from their current state."""
    ids = {row.user_id for row in rows if row.user_id is not None}
    return {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


def _finish(row, **values):
    """Record an outcome, only while this claim still holds the row (a take-over counts attempts up)."""
    now = utcnow()
    db.session.execute(update(OutboxMail).where(OutboxMail.id == row.id, OutboxMail.attempts == row.attempts)
                       .values(lease_until=None, updated_at=now, **values)
                       .execution_options(synchronize_session=False))
    return now


def record_sent(rows):
    """Mark rows sent in one transaction: the worker groups the marks of a few milliseconds' sends."""
    if not rows:
        return
    now = utcnow()
    db.session.execute(update(OutboxMail).where(OutboxMail.id.in_([row.id for row in rows]))
                       .values(status=OutboxMail.SENT, sent_at=now, lease_until=None, last_error=None, updated_at=now)
                       .execution_options(synchronize_session=False))
    db.session.execute(insert(Event), [dict(kind=Event.MAIL_SENT, user_id=row.user_id, detail=row.kind, created_at=now)
                                       for row in rows])
    db.session.commit()


def record_cancelled(row, reason):
    """Nothing left to send (the account is gone, or the address was verified meanwhile)."""
    _finish(row, status=OutboxMail.CANCELLED, last_error=reason[:1000])
    db.session.commit()
    return "cancelled"


def record_failure(row, error, permanent=False):
    """A permanent failure or a spent budget fails the row; otherwise it waits for MAIL_RETRY_INTERVALS."""
    if permanent or row.attempts >= max_attempts():
        now = _finish(row, status=OutboxMail.FAILED, last_error=error[:1000])
        db.session.execute(insert(Event).values(kind=Event.MAIL_FAILED, user_id=row.user_id, detail=row.kind,
                                                created_at=now))
        db.session.commit()
        log.warning("mail %s to %s failed for good: %s", row.id, row.recipient, error)
        return "failed"
    delay = current_app.config["MAIL_RETRY_INTERVALS"][row.attempts - 1]
    _finish(row, status=OutboxMail.PENDING, last_error=error[:1000],
            next_attempt_at=utcnow() + timedelta(seconds=delay))
    db.session.commit()
    log.info("mail %s attempt %s failed, next in %ss: %s", row.id, row.attempts, delay, error)
    wake_later(row.id, row.attempts, delay)
    return "retrying"


def release(rows):
    """Give back claimed rows this drain did not try (its send budget ran out): due now, attempt not spent."""
    db.session.execute(update(OutboxMail)
                       .where(OutboxMail.id.in_([row.id for row in rows]), OutboxMail.status == OutboxMail.SENDING)
                       .values(status=OutboxMail.PENDING, attempts=OutboxMail.attempts - 1, lease_until=None)
                       .execution_options(synchronize_session=False))
    db.session.commit()
    outbox.wake()


def drain_started():
    """Called by a drain before it claims: a sign-up committed after this point queues a new drain."""
    get_redis().delete(outbox.WAKE_KEY)


def wake_later(outbox_id, attempt, delay):
    """A precise wake-up for one row's next attempt (run by the workers' scheduler).

    The id names the row and the attempt, so it is scheduled once; any other record under that id (a
    finished, failed or killed job) is replaced, so it can never block the row.
    """
    queue = get_queue("mail")
    job_id = f"mail-{outbox_id}-{attempt}"
    try:
        for _ in range(2):
            try:
                return queue.enqueue_in(timedelta(seconds=delay), "jobs.mail.send", outbox_id, job_id=job_id,
                                        unique=True, result_ttl=0, job_timeout=outbox.job_timeout())
            except DuplicateJobError:
                job = queue.fetch_job(job_id)
                if job is not None and job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.SCHEDULED):
                    return job
                if job is not None:
                    job.delete()
    except RedisError as exc:
        log.warning("could not schedule mail %s: %s (the outbox redrive will)", outbox_id, exc)
    return None


def purge(days):
    """Delete rows sent, cancelled or dropped more than `days` ago (the caller commits); they only name a recipient."""
    return db.session.execute(
        delete(OutboxMail)
        .where(OutboxMail.status.in_([OutboxMail.SENT, OutboxMail.CANCELLED, OutboxMail.DROPPED, OutboxMail.HELD]),
               OutboxMail.updated_at < utcnow() - timedelta(days=days))
        .execution_options(synchronize_session=False)
    ).rowcount
