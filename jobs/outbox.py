"""Redrive: wake up outbox rows whose job was lost (Redis wiped, enqueue failed, worker killed)."""
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from app.extensions import db
from app.models import OutboxMail, utcnow
from app.queues import enqueue
from jobs import mail


def redrive(grace_seconds=None):
    """Enqueue every row that is due and not being sent by a live worker; returns how many."""
    grace = current_app.config["OUTBOX_SWEEP_SECONDS"] if grace_seconds is None else grace_seconds
    now = utcnow()
    ids = db.session.scalars(select(OutboxMail.id).where(or_(
        and_(OutboxMail.status == OutboxMail.PENDING,
             OutboxMail.next_attempt_at <= now - timedelta(seconds=grace)),
        and_(OutboxMail.status == OutboxMail.SENDING, OutboxMail.lease_until < now),
    )).order_by(OutboxMail.id).limit(1000)).all()
    for outbox_id in ids:
        enqueue("mail", mail.send, outbox_id)
    return len(ids)
