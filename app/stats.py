"""A day's figures from the app's own event log, in TIMEZONE: what the stats job stores and the dashboard shows.

The stats job (jobs/stats.py) writes them into DailyStats; the dashboard reads those rows and counts
today, and any day the job has not recorded yet, live with the same queries.
"""
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import and_, case, func, literal_column, select

from app.extensions import db
from app.models import Event, User

COUNTED = {  # DailyStats column: Event kind
    "registrations": Event.REGISTERED,
    "mails_sent": Event.MAIL_SENT,
    "verifications": Event.VERIFIED,
    "logins": Event.LOGIN_OK,
    "failed_logins": Event.LOGIN_FAILED,
    "captcha_failures": Event.CAPTCHA_FAILED,
    "mails_failed": Event.MAIL_FAILED,
}


def day_figures(day, zone):
    """Every DailyStats column but `day` and `computed_at`, for one day: one pass over the event index."""
    start, end = utc_bounds(day, zone)
    counts = count_events(start, end)
    return {**counts, **cohort(start, end, counts["registrations"])}


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
