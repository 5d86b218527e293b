"""Clean-up: accounts never verified, events past their retention, sent mail and expired logins, by age."""
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, not_

from app.extensions import db
from app.models import Event, LoginSession, User, utcnow
from jobs.mail import purge as purge_outbox


def run():
    """Delete what has aged out and say how many rows went; a second run finds nothing more to delete.

    Events and outbox rows of a removed account keep their history with user_id NULL (ON DELETE SET NULL).
    A login older than REMEMBER_DAYS already opens nothing (load_user checks its age); its row goes here.
    """
    config = current_app.config
    now = utcnow()
    users = db.session.execute(
        delete(User)
        .where(User.verified_at.is_(None), User.is_admin.is_(False),
               User.created_at < now - timedelta(days=config["UNVERIFIED_TTL_DAYS"]))
        .execution_options(synchronize_session=False)
    ).rowcount
    events = db.session.execute(
        delete(Event)
        .where(Event.created_at < now - timedelta(days=config["EVENT_RETENTION_DAYS"]))
        .execution_options(synchronize_session=False)
    ).rowcount
    mail = purge_outbox(config["OUTBOX_RETENTION_DAYS"])
    logins = db.session.execute(
        delete(LoginSession)
        .where(not_(LoginSession.live()))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return {"unverified_users": users, "events": events, "sent_mail": mail, "logins": logins}
