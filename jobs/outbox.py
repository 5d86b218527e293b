"""Redrive: wake up outbox rows whose job was lost (Redis wiped, enqueue failed, worker killed)."""
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import OutboxMail
from app.queues import enqueue_mail, lost_wakeups

BATCH = 1000


def redrive(grace_seconds=None):
    """Wake every row due for longer than the grace (one sweep by default); returns how many.

    The grace leaves the wake-up enqueued at sign-up or after a failure time to run first; the job ids
    are per row and attempt, so a wake-up still waiting in the queue is not added again.
    """
    grace = current_app.config["OUTBOX_SWEEP_SECONDS"] if grace_seconds is None else grace_seconds
    rows = db.session.execute(select(OutboxMail.id, OutboxMail.attempts).where(lost_wakeups(grace))
                              .order_by(OutboxMail.id).limit(BATCH)).all()
    db.session.rollback()  # end the read transaction before the Redis calls
    for outbox_id, attempts in rows:
        enqueue_mail(outbox_id, attempts)
    return len(rows)
