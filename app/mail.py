"""Compose mail in the request: render a template pair into an OutboxMail row the worker will send."""
from urllib.parse import urlsplit

from flask import current_app, render_template

from app import ratelimit
from app.extensions import db
from app.models import OutboxMail


def absolute_url(endpoint, **values):
    """Build a link from BASE_URL, since the worker (and the CLI) have no request to take a host from."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def compose(kind, recipient, subject, template, user=None, **context):
    """Render templates/email/<template>.txt and .html and add the row to the current transaction.

    Every mail passes here, so here a mailbox gets at most RATELIMIT_MAIL_PER_RECIPIENT mails whatever
    asked for them; one over it is kept as a dropped row (which the worker skips), so callers need not care.
    """
    context.setdefault("user", user)
    row = OutboxMail(
        kind=kind,
        user=user,
        recipient=recipient,
        subject=subject,
        body_text=render_template(f"email/{template}.txt", **context),
        body_html=render_template(f"email/{template}.html", **context),
    )
    if not ratelimit.mail_allowed(recipient):
        row.status, row.last_error = OutboxMail.DROPPED, "not sent: RATELIMIT_MAIL_PER_RECIPIENT reached"
    db.session.add(row)
    return row
