"""Daily statistics: the event log aggregated in SQL into one DailyStats row per day in TIMEZONE."""
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, case, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import DailyStats, Event, User, utcnow

COUNTED = {  # DailyStats column: Event kind
    "registrations": Event.REGISTERED,
    "mails_sent": Event.MAIL_SENT,
    "verifications": Event.VERIFIED,
    "logins": Event.LOGIN_OK,
    "failed_logins": Event.LOGIN_FAILED,
    "captcha_failures": Event.CAPTCHA_FAILED,
    "mails_failed": Event.MAIL_FAILED,
}


def record_day(day="yesterday"):
    """Compute one day's row and upsert it; running it again for the same day rewrites the same row.

    `day` is an ISO date, or "today"/"yesterday" in TIMEZONE (so the schedule's arguments stay fixed).
    Returns the row's values, as the job's result.
    """
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    day = resolve_day(day, zone)
    start, end = utc_bounds(day, zone)
    counts = count_events(start, end)
    values = {"day": day, **counts, **cohort(start, end, counts["registrations"]), "computed_at": utcnow()}
    upsert(values)
    return {key: value.isoformat() if isinstance(value, (date, datetime)) else value
            for key, value in values.items()}


def resolve_day(day, zone):
    today = datetime.now(zone).date()
    if day == "today":
        return today
    if day == "yesterday":
        return today - timedelta(days=1)
    return date.fromisoformat(day)


def utc_bounds(day, zone):
    """The day's first and last instants as naive UTC, as stored; 23 or 25 hours long on DST days."""
    def to_utc(d):
        return datetime.combine(d, time(0), zone).astimezone(timezone.utc).replace(tzinfo=None)
    return to_utc(day), to_utc(day + timedelta(days=1))


def count_events(start, end):
    """Every counter in one pass over the day's slice of the (created_at, kind) index."""
    columns = [func.coalesce(func.sum(case((Event.kind == kind, 1), else_=0)), 0).label(name)
               for name, kind in COUNTED.items()]
    row = db.session.execute(
        select(*columns).where(Event.created_at >= start, Event.created_at < end,
                               Event.kind.in_(COUNTED.values()))
    ).one()
    return dict(row._mapping)


def cohort(start, end, registrations):
    """Of the people who registered that day: the share verified so far, and the median time it took.

    Registration events outlive the accounts that cleanup removes (user_id becomes NULL), so those
    still count as registered and not verified. The median uses window functions (no MEDIAN in SQLite).
    """
    seconds = seconds_between(User.created_at, User.verified_at).label("seconds")
    verified = (
        select(seconds,
               func.row_number().over(order_by=seconds).label("rn"),
               func.count().over().label("n"))
        .join(Event, and_(Event.user_id == User.id, Event.kind == Event.REGISTERED, Event.created_at >= start,
                          Event.created_at < end))
        .where(User.verified_at.is_not(None))
        .subquery()
    )
    n, median = db.session.execute(
        select(func.max(verified.c.n),
               func.avg(case((verified.c.rn.in_([(verified.c.n + 1) // 2, (verified.c.n + 2) // 2]),
                              verified.c.seconds))))
    ).one()
    return {"verification_rate": (n or 0) / registrations if registrations else None,
            "median_seconds_to_verify": float(median) if median is not None else None}


def seconds_between(earlier, later):
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * literal_column("86400.0")


def upsert(values):
    """INSERT ... ON CONFLICT (day) DO UPDATE: one statement, so two runs at once cannot collide."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DailyStats).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[DailyStats.day],
        set_={key: statement.excluded[key] for key in values if key != "day"})
    db.session.execute(statement)
    db.session.commit()
