"""`flask demo-data --days N`: a development database that looks lived in, so the dashboard has a month to show.

Refused in production: it writes accounts nobody made and events that never happened.
"""
import random
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, insert, select

from app.accounts import passwords
from app.extensions import db
from app.models import Event, User
from jobs.stats import record_day

WEEKDAY_SHARE = (1.0, 1.05, 1.1, 1.05, 0.95, 0.6, 0.55)  # Monday first: quieter weekends


@click.command("demo-data")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 400), help="How many past days.")
@click.option("--per-day", default=40, show_default=True, type=click.IntRange(1, 5000),
              help="Sign-ups on an average weekday at the start; the month grows by about half.")
@with_appcontext
def demo_data(days, per_day):
    """Fill the database with DAYS of sign-ups, verifications and logins, then record their daily stats."""
    if current_app.config["APP_ENV"] == "production":
        raise click.ClickException("demo-data is refused in production (APP_ENV=production): it invents people")
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    today = datetime.now(zone).date()
    rng = random.Random(days * 1000 + per_day)  # the same data for the same arguments
    password_hash = passwords.hash_password("demo passphrase 42")  # one hash: every demo account shares it
    first_id = (db.session.scalar(select(func.max(User.id))) or 0) + 1
    users, events = [], []
    for offset in range(days, 0, -1):
        day = today - timedelta(days=offset)
        growth = 1 + 0.5 * (days - offset) / days
        for _ in range(max(0, round(rng.gauss(per_day * growth * WEEKDAY_SHARE[day.weekday()], per_day / 8)))):
            users.append(person(rng, first_id + len(users), day, zone, password_hash, events))
    db.session.execute(insert(User), users)
    db.session.execute(insert(Event), events)
    db.session.commit()
    for offset in range(days, 0, -1):
        record_day((today - timedelta(days=offset)).isoformat())
    click.echo(f"{len(users)} accounts and {len(events)} events over {days} days; daily stats recorded")


def person(rng, user_id, day, zone, password_hash, events):
    """One account signing up on `day`: most confirm within minutes to hours, some log in on later days."""
    created = datetime.combine(day, time(rng.randrange(7, 23), rng.randrange(60)), zone)
    created = created.astimezone(timezone.utc).replace(tzinfo=None)
    verified = created + timedelta(seconds=rng.lognormvariate(6, 1.2)) if rng.random() < 0.82 else None
    events.append({"kind": Event.REGISTERED, "user_id": user_id, "created_at": created})
    events.append({"kind": Event.MAIL_SENT, "user_id": user_id, "created_at": created + timedelta(seconds=1)})
    if verified:
        events.append({"kind": Event.VERIFIED, "user_id": user_id, "created_at": verified})
        for login in range(rng.randrange(1, 6)):
            at = verified + timedelta(days=rng.expovariate(1 / 4), minutes=rng.randrange(1, 600))
            if at < datetime.now(timezone.utc).replace(tzinfo=None):
                kind = Event.LOGIN_FAILED if rng.random() < 0.08 else Event.LOGIN_OK
                events.append({"kind": kind, "user_id": user_id, "created_at": at})
    return {"id": user_id, "username": f"demo{user_id}", "email": f"demo{user_id}@example.com",
            "password_hash": password_hash, "is_admin": False, "created_at": created, "verified_at": verified,
            "verify_code_attempts": 0, "session_token": f"demo-{user_id}-{rng.getrandbits(128):032x}"}
