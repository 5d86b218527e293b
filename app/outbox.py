"""The web's half of mail: add a row (what to send), wake the worker after the commit, put rows back.

A row records what to send (kind, recipient, user, language, parameters), never a rendered body. The
worker renders it and mints its link and code when it sends (app/emails.py), so neither the database nor
a backup holds a live credential. The worker's half (claim, lease, send, record, retry, redrive) is
jobs/mail.py; the predicate both halves share, `claimable`, is here.

Wake-ups are coalesced: a sign-up queues a drain job only when none is waiting to start (WAKE_KEY);
the drain claims every due row in one UPDATE ... RETURNING and sends them over one connection.
"""
import logging
import secrets
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import and_, or_, select

from app import i18n, ratelimit
from app.emails import KINDS
from app.extensions import db, get_redis
from app.models import OutboxMail, utcnow
from app.queues import get_queue

log = logging.getLogger(__name__)

WAKE_KEY = "outbox:drain-queued"  # id of the drain job queued and not started yet, if any


def compose(kind, recipient, user=None, language=None, **params):
    """Add a mail to the current transaction; the caller commits, then calls wake().

    The mail is written in `language`, by default the account's chosen one, else the page's (app/i18n.py):
    the row keeps it, so a worker sending later still knows.

    Each mail spends one of its mailbox's budgets, whatever asked for it (app/ratelimit.py): what anyone
    can ask for, resets, and the security notices only the account's holder can cause, so that strangers
    can silence neither of the last two; a second-factor notice spends none. One over its budget is kept, never claimed by a sender (`flask
    mail retry ID` sends it): `dropped`, or `held` for a notice, which the operator's pages show.

    `params` must be JSON and hold no credential: whatever needs a token or code is minted at send time
    by the kind's context in app/emails.py, which must know the kind (checked here, in the request).
    """
    
    if kind not in KINDS:
        raise ValueError(f"unknown mail kind {kind!r}; add it to app.emails.KINDS")
    row = OutboxMail(kind=kind, user=user, recipient=recipient, language=language or i18n.language_for(user),
                     params=params)
    budget = KINDS[kind].budget
    if budget is not None and not ratelimit.mail_allowed(recipient, budget):  # every mail passes here, so no request can flood a mailbox
        row.status = OutboxMail.HELD if budget == ratelimit.NOTICES else OutboxMail.DROPPED
        row.last_error = f"not sent: {budget} reached"
    db.session.add(row)
    return row


# Timing: one rule for the job timeout and the lease (jobs/mail.py's lease_seconds).

def send_budget_seconds():
    """A drain starts no new send after this long, so one slow provider costs one lease, not a batch's."""
    return current_app.config["MAIL_TIMEOUT"]


def job_timeout():
    """The budget plus the last send, which may take two MAIL_TIMEOUTs (connect, then a reply)."""
    return send_budget_seconds() + 2 * current_app.config["MAIL_TIMEOUT"]


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


def _queued(job_id):
    """Whether the drain WAKE_KEY names still waits in the mail queue.

    Its status alone would not do: rq takes a job off its queue and then marks it started, so a worker lost
    in between (killed, or its Redis failing over) leaves the drain "queued" in no queue, and every
    wake-up after it would wait for a drain that never runs.
    """
    return bool(job_id) and get_queue("mail").get_job_position(job_id.decode()) is not None


# Operations: `flask mail retry` and the admin's Resend.

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


