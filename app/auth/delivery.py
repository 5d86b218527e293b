"""The live delivery state of the "check your inbox" page, behind a ticket only this browser holds.

Sign-up and resend put a random ticket in the session; Redis maps it to the outbox row of the mail just
composed. The state endpoint answers only for the ticket of the asking session, so nobody can probe an
address or read another visitor's mail. A resend for an address with no account waiting composes no mail
and spends nothing; it still gets a ticket (a stand-in for no row) that reads as a mail that left. A mail
held back by its mailbox's budget reads "not sent" only to the signed-in owner of its account: to anyone
else it reads as sent, so the page never tells an address with an account from one without, and no one
learns that a stranger has been spending an inbox's budget.
"""
import json
import logging
import secrets
import time

from flask import session
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from redis.exceptions import RedisError

from app.extensions import db, get_redis
from app.models import OutboxMail

log = logging.getLogger(__name__)

TICKET_TTL_SECONDS = 24 * 3600
RESEND_AFTER_SECONDS = 45  # "send again" is offered once a mail has had this long to arrive (or failed)
STAND_IN_SECONDS = 1  # a stand-in reads "queued" this long, about what a real mail waits for a worker

LABELS = {
    "queued": (_l("Queued"), _l("The mail is waiting for our mail worker.")),
    "sending": (_l("Sending"), _l("The mail is being handed to the mail server.")),
    "retrying": (_l("Retrying"), _l("The mail server did not take it yet; we try again shortly.")),
    "sent": (_l("Sent"), _l("The mail has left our server. It can take a minute to arrive; "
                            "look in the spam folder too.")),
    "failed": (_l("Failed"), _l("We could not send the mail. Check the address, or send it again.")),
    "dropped": (_l("Not sent"), _l("This address has had too many mails from us for now. "
                                   "Wait an hour, then ask for a new one.")),
    "cancelled": (_l("Not needed"), _l("The mail was not sent: the address is already confirmed.")),
}
SETTLED = {"sent", "failed", "dropped", "cancelled"}


def track(row):
    """A new ticket for this browser, naming `row` (the caller has committed it)."""
    _issue({"row": row.id, "at": time.time()})


def track_nothing():
    """A ticket for a resend that composed no mail: it reads like one that left, and spends nothing."""
    _issue({"row": None, "at": time.time()})


def _issue(record):
    ticket = secrets.token_urlsafe(18)
    try:
        get_redis().set(f"delivery:{ticket}", json.dumps(record), ex=TICKET_TTL_SECONDS)
    except RedisError as exc:  # the page then shows no live state; the mail itself is not affected
        log.warning("could not keep a delivery ticket: %s", exc)
        session.pop("delivery", None)
        return
    session["delivery"] = ticket


def current(ticket=None):
    """The state of this session's mail as a dict for the page and the endpoint; None if it has none.

    `ticket`, when given, must be this session's own: any other id reads as unknown.
    """
    mine = session.get("delivery")
    if not mine or (ticket is not None and not secrets.compare_digest(ticket, mine)):
        return None
    raw = get_redis().get(f"delivery:{mine}")
    if raw is None:
        return None
    record = json.loads(raw)
    age = time.time() - record["at"]
    if record["row"] is None:
        state = "queued" if age < STAND_IN_SECONDS else "sent"
    else:
        row = db.session.get(OutboxMail, record["row"])
        if row is None:  # purged long after it was sent
            return None
        state = state_of(row)
        if state == "dropped" and not owned_by_visitor(row):
            state = "queued" if age < STAND_IN_SECONDS else "sent"
    label, message = LABELS[state]
    resend = state == "failed" or (age >= RESEND_AFTER_SECONDS and state not in ("dropped", "cancelled"))
    return {"state": state, "label": str(label), "message": str(message), "resend": resend,
            "final": state in SETTLED and (resend or state in ("dropped", "cancelled"))}


def owned_by_visitor(row):
    return current_user.is_authenticated and row.user_id == current_user.id


def state_of(row):
    if row.status == OutboxMail.PENDING:
        return "retrying" if row.attempts else "queued"
    return {OutboxMail.SENDING: "sending", OutboxMail.SENT: "sent", OutboxMail.FAILED: "failed",
            OutboxMail.DROPPED: "dropped", OutboxMail.HELD: "dropped", OutboxMail.CANCELLED: "cancelled"}[row.status]
