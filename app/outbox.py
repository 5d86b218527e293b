"""The outbox, the one owner of mail: compose and wake for the web side; claim, lease and retry for the worker.

A row records what to send (kind, recipient, user, language, parameters), never a rendered body. The
worker renders it and mints its link and code when it sends (app/mail.py), so neither the database nor a
backup holds a live credential. Links are itsdangerous tokens bound to account state; the 6-digit code is
derived from a nonce on the user with SECRET_KEY (app/auth/tokens.py), so a retry after an ambiguous SMTP
failure renders the same code and a code the user may already hold stays valid.

Wake-ups are coalesced: a sign-up queues a drain job only when none is waiting to start (WAKE_KEY), and a
drain claims every due row, up to BATCH, in one UPDATE ... RETURNING and sends them over one connection.
A full batch wakes another drain first, so every worker in the pool shares a backlog. A temporary failure
gets a precise wake-up for its next attempt (`mail-<row>-<attempt>`); the redrive covers lost wake-ups.
"""
import logging
import secrets
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import and_, delete, insert, or_, select, update

from app import i18n, ratelimit
from app.extensions import db, get_redis
from app.emails import KINDS
from app.models import Event, OutboxMail, User, utcnow
from app.queues import get_queue

log = logging.getLogger(__name__)

BATCH = 100  # rows per claim; a full batch wakes another drain so the pool shares the backlog
WAKE_KEY = "outbox:drain-queued"  # id of the drain job queued and not started yet, if any
LEASE_MARGIN_SECONDS = 5  # time to record the outcome after the job timeout cut a send short
COMMIT_SECONDS = 0.02  # sent marks share one transaction for this long: a SIGKILL repeats those mails only


def compose(kind, recipient, user=None, language=None, **params):
    """Add a mail to the current transaction; the caller commits, then calls wake().

    The mail is written in `language`, by default the account's chosen one, else the page's (app/i18n.py):
    the row keeps it, so a worker sending later still knows.

    Each mail spends one of its mailbox's budgets, whatever asked for it (app/ratelimit.py): what anyone
    can ask for, resets, and the security notices only the account's holder can cause, so that strangers
    can silence neither of the last two. One over its budget is kept, never claimed by a sender (`flask
    mail retry ID` sends it): `dropped`, or `held` for a notice, which the operator's pages show.

    `params` must be JSON and hold no credential: whatever needs a token or code is minted at send time
    by the kind's context in app/mail.py, which must know the kind (checked here, in the request).
    """
    
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}; add it to app.emails.KINDS")
    row = OutboxMail(kind=kind, user=user, recipient=recipient, language=language or i18n.language_for(user),
                     params=params)
    budget = KINDS[kind].budget
    if not ratelimit.mail_allowed(recipient, budget):  # every mail passes here, so no request can flood a mailbox
        row.status = OutboxMail.HELD if budget == ratelimit.NOTICES else OutboxMail.DROPPED
        row.last_error = f"not sent: {budget} reached"
    db.session.add(row)
    return row


# Timing: one rule for the job timeout, the lease and the retry budget.

def send_budget_seconds():
    """A drain starts no new send after this long, so one slow provider costs one lease, not a batch's."""
    return current_app.config["MAIL_TIMEOUT"]


def job_timeout():
    """The budget plus the last send, which may take two MAIL_TIMEOUTs (connect, then a reply)."""
    return send_budget_seconds() + 2 * current_app.config["MAIL_TIMEOUT"]


def lease_seconds():
    """Outlasts the job timeout, so a lapsed lease means the sender is gone, not slow."""
    return job_timeout() + LEASE_MARGIN_SECONDS


def max_attempts():
    return len(current_app.config["MAIL_RETRY_INTERVALS"]) + 1


def claimable(grace_seconds=0, now=None):
    """The one predicate for "a sender may take this row": pending and due, or its lease lapsed.

    With a grace, it selects rows whose wake-up must be presumed lost (the redrive, /healthz): due for
    longer than the grace, or held by a sender that died mid-send (SIGKILL, OOM, host lost).
    """
    now = now or utcnow()
    return or_(
        and_(OutboxMail.status == OutboxMail.PENDING,
             OutboxMail.next_attempt_at <= now - timedelta(seconds=grace_seconds)),
        and_(OutboxMail.status == OutboxMail.SENDING, OutboxMail.lease_until < now),
    )


# The worker's side.

def claim(ids=None, limit=BATCH):
    """Take up to `limit` claimable rows (only `ids`, if given) under a lease; no two senders get one row.

    One UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL). The rows are chosen in a CTE, which PostgreSQL
    evaluates once (as a plain subquery it may be re-run per row and take more than `limit`); it skips
    rows another claim has locked (SQLite runs one writer at a time), and the UPDATE re-checks the predicate.
    """
    now = utcnow()
    chosen = (select(OutboxMail.id).where(claimable(now=now))
              .order_by(OutboxMail.next_attempt_at, OutboxMail.id).limit(limit).with_for_update(skip_locked=True))
    if ids is not None:
        chosen = chosen.where(OutboxMail.id.in_(ids))
    chosen = chosen.cte("chosen")
    rows = db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id.in_(select(chosen.c.id)), claimable(now=now))
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
    wake()


# Wake-ups: Redis only carries them; none of them ever raises, the redrive covers every failure.

def wake(repair=False):
    """Make sure a drain job is queued; a drain already waiting to start will claim this mail too.

    Costs one SET when a drain is waiting (most sign-ups of a burst). `repair` (the redrive) also
    replaces a WAKE_KEY whose job is no longer queued (its enqueue failed or the job record was lost).
    """
    redis = get_redis()
    job_id = f"mail-drain-{secrets.token_hex(8)}"
    try:
        if not redis.set(WAKE_KEY, job_id, nx=True):
            if not repair or _queued(redis.get(WAKE_KEY)):
                return None
            redis.set(WAKE_KEY, job_id)
        return get_queue("mail").enqueue("jobs.mail.drain", job_id=job_id, result_ttl=0, job_timeout=job_timeout())
    except RedisError as exc:
        log.warning("could not wake the mail worker: %s (the outbox redrive will)", exc)
    return None


def drain_started():
    """Called by a drain before it claims: a sign-up committed after this point queues a new drain."""
    get_redis().delete(WAKE_KEY)


def _queued(job_id):
    try:
        job = Job.fetch(job_id.decode(), connection=get_redis()) if job_id else None
    except NoSuchJobError:
        return False
    return job is not None and job.get_status(refresh=False) == JobStatus.QUEUED


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
                                        unique=True, result_ttl=0, job_timeout=job_timeout())
            except DuplicateJobError:
                job = queue.fetch_job(job_id)
                if job is not None and job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.SCHEDULED):
                    return job
                if job is not None:
                    job.delete()
    except RedisError as exc:
        log.warning("could not schedule mail %s: %s (the outbox redrive will)", outbox_id, exc)
    return None


# Operations: the redrive, `flask mail retry` and the clean-up.

def redrive(grace_seconds, limit=1000):
    """Wake a drain when rows' wake-ups must be presumed lost; returns how many rows (up to `limit`) are so.

    The precise wake-ups of overdue retries are stuck (no worker runs rq's scheduler, or it lagged): they
    are removed, so none lingers in Redis, and the drain sends those rows instead.
    """
    rows = db.session.execute(select(OutboxMail.id, OutboxMail.attempts).where(claimable(grace_seconds))
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
        wake(repair=True)
    return len(rows)


def put_back(ids=None):
    """Failed (or the given unsent) rows become pending with a fresh retry budget; returns (put back, missing)."""
    query = select(OutboxMail).where(OutboxMail.status.not_in([OutboxMail.SENT, OutboxMail.CANCELLED]))
    query = query.where(OutboxMail.id.in_(ids)) if ids else query.where(OutboxMail.status == OutboxMail.FAILED)
    rows = db.session.scalars(query).all()
    missing = sorted(set(ids or ()) - {row.id for row in rows})
    for row in rows:
        if row.status == OutboxMail.SENDING:
            continue  # a worker holds it; its lease decides, the redrive takes over if it died
        row.status, row.attempts, row.next_attempt_at, row.lease_until = OutboxMail.PENDING, 0, utcnow(), None
    db.session.commit()
    queued = [row.id for row in rows if row.status == OutboxMail.PENDING]
    if queued:
        wake()
    return queued, missing


def purge(days):
    """Delete rows sent, cancelled or dropped more than `days` ago (the caller commits); they only name a recipient."""
    return db.session.execute(
        delete(OutboxMail)
        .where(OutboxMail.status.in_([OutboxMail.SENT, OutboxMail.CANCELLED, OutboxMail.DROPPED, OutboxMail.HELD]),
               OutboxMail.updated_at < utcnow() - timedelta(days=days))
        .execution_options(synchronize_session=False)
    ).rowcount
