"""Send one outbox row. The row decides: a repeated, late or concurrent job sends nothing twice."""
import logging
import smtplib
from datetime import timedelta

from flask import current_app
from flask_mail import Message
from sqlalchemy import and_, or_, update

from app.extensions import db
from app.models import Event, OutboxMail, utcnow
from app.queues import enqueue_mail, mail_job_timeout
from jobs import smtp

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 5  # time to record the outcome after the job timeout cut a send short


def send(outbox_id):
    """Claim the row, hand it to SMTP, record the outcome. Returns what happened, for the job result."""
    if not claim(outbox_id):
        return "skipped"
    row = db.session.get(OutboxMail, outbox_id)
    if row.attempts > max_attempts():
        # Only lease take-overs get here: the workers holding it died on every attempt.
        return record_failure(row, RuntimeError("the worker stopped during every attempt"), final=True)
    message = Message(subject=row.subject, recipients=[row.recipient], body=row.body_text,
                      html=row.body_html, sender=current_app.config["MAIL_DEFAULT_SENDER"])
    try:
        smtp.send_message(message)
    except Exception as exc:  # the job timeout included: every failure is recorded, none loses the mail
        return record_failure(row, exc)
    row.status, row.sent_at, row.lease_until, row.last_error = OutboxMail.SENT, utcnow(), None, None
    Event.record(Event.MAIL_SENT, user=row.user, detail=row.kind)
    db.session.commit()
    return "sent"


def lease_seconds():
    """Outlasts the job timeout, so a lapsed lease means the sender is gone, not slow."""
    return mail_job_timeout() + LEASE_MARGIN_SECONDS


def max_attempts():
    return len(current_app.config["MAIL_RETRY_INTERVALS"]) + 1


def claim(outbox_id):
    """Atomically move a due row to 'sending' under a lease; only one job can win the UPDATE."""
    now = utcnow()
    result = db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == outbox_id)
        .where(or_(
            and_(OutboxMail.status == OutboxMail.PENDING, OutboxMail.next_attempt_at <= now),
            and_(OutboxMail.status == OutboxMail.SENDING, OutboxMail.lease_until < now),
        ))
        .values(status=OutboxMail.SENDING, attempts=OutboxMail.attempts + 1,
                lease_until=now + timedelta(seconds=lease_seconds()), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def is_permanent(exc):
    """SMTP 5xx means the provider will never take this mail; everything else may pass later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def describe(exc):
    """The provider's own words where there are some ("550 5.1.1 No such mailbox"), for `flask mail status`."""
    def text(message):
        return message.decode(errors="replace") if isinstance(message, bytes) else str(message)

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{address}: {code} {text(message)}" for address, (code, message) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"


def record_failure(row, exc, final=False):
    """A permanent failure or a spent retry budget fails the row; otherwise it waits for its next attempt."""
    intervals = current_app.config["MAIL_RETRY_INTERVALS"]
    row.last_error = describe(exc)[:1000]
    row.lease_until = None
    if final or is_permanent(exc) or row.attempts >= max_attempts():
        row.status = OutboxMail.FAILED
        Event.record(Event.MAIL_FAILED, user=row.user, detail=row.kind)
        db.session.commit()
        log.warning("mail %s to %s failed for good: %s", row.id, row.recipient, row.last_error)
        return "failed"
    delay = intervals[row.attempts - 1]
    row.status, row.next_attempt_at = OutboxMail.PENDING, utcnow() + timedelta(seconds=delay)
    db.session.commit()
    log.info("mail %s attempt %s failed, next in %ss: %s", row.id, row.attempts, delay, row.last_error)
    # A precise wake-up (run by the workers' scheduler); if it is lost, the redrive sweep sends anyway.
    enqueue_mail(row.id, row.attempts, delay=delay)
    return "retrying"
