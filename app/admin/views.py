"""The dashboard: the last 30 days of daily statistics as a chart and a table, and the state of the jobs."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from app import stats
from app.admin import bp
from app.admin.chart import bar_chart
from app.extensions import db
from app.health import check_jobs
from app.models import DailyStats, Event, Passkey, User

DAYS = 30


def series():
    return [("registrations", _("Registrations")), ("verifications", _("Verifications")), ("logins", _("Logins"))]


def last_days(today, count=DAYS):
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def daily_rows(days, zone):
    """One DailyStats row per day: the stats job's, or, for today and any day it has not recorded yet,
    counted now from the event log (a transient row, never saved), so today moves as people sign up and
    a day without events reads 0."""
    found = {row.day: row for row in db.session.scalars(
        select(DailyStats).where(DailyStats.day >= days[0], DailyStats.day <= days[-1]))}
    return [found[day] if day in found and day != days[-1] else DailyStats(day=day, **stats.day_figures(day, zone))
            for day in days]


def summary(rows):
    """Totals, the share of the period's registrations verified, and the median time to verify.

    Each day's rate is its own cohort's, so rate x registrations counts that cohort's verified people.
    The period's median is the median of the days' medians weighted by those counts: the exact median
    would need every account's times, which the daily rows summarise.
    """
    registered = sum(row.registrations for row in rows if row.verification_rate is not None)
    verified = {row: round(row.verification_rate * row.registrations) for row in rows
                if row.verification_rate is not None}
    weighted = sorted((row.median_seconds_to_verify, count) for row, count in verified.items()
                      if row.median_seconds_to_verify is not None and count)
    return {
        "registrations": sum(row.registrations for row in rows),
        "verifications": sum(row.verifications for row in rows),
        "logins": sum(row.logins for row in rows),
        "rate": sum(verified.values()) / registered if registered else None,
        "median_seconds": weighted_median(weighted),
    }


def weighted_median(pairs):
    """pairs: sorted (value, weight); the value at which half of the total weight is reached."""
    total, seen = sum(weight for _, weight in pairs), 0
    for value, weight in pairs:
        seen += weight
        if seen * 2 >= total:
            return value
    return None


@bp.get("/")
def index():
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    days = last_days(datetime.now(zone).date())
    rows = daily_rows(days, zone)
    values = {key: [getattr(row, key) for row in rows] for key, _name in series()}
    return render_template("admin/index.html", chart=bar_chart(days, series(), values), series=series(),
                           table=list(zip(days, rows)), summary=summary(rows), jobs=check_jobs(),
                           second_factors=second_factors(days[0], zone))


def second_factors(first_day, zone):
    """Accounts with a second factor now, and the enrolments (app turned on, passkey added) since first_day."""
    since = datetime.combine(first_day, datetime.min.time(), zone).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    with_passkey = select(Passkey.user_id)
    accounts = db.session.scalar(select(func.count()).select_from(User).where(
        or_(User.totp_enabled_at.is_not(None), User.id.in_(with_passkey))))
    enrolments = db.session.scalar(select(func.count()).select_from(Event).where(
        Event.kind.in_((Event.TWO_FACTOR_ENABLED, Event.PASSKEY_ADDED)), Event.created_at >= since))
    return {"accounts": accounts, "enrolments": enrolments}
