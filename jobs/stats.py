"""Daily statistics: one DailyStats row per day in TIMEZONE, from the event log (app/stats.py counts it)."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import DailyStats, utcnow
from app.stats import day_figures, resolve_day


def record_day(day="yesterday"):
    """Compute one day's row and upsert it; running it again for the same day rewrites the same row.

    `day` is an ISO date, or "today"/"yesterday" in TIMEZONE (so the schedule's arguments stay fixed).
    Returns the row's values, as the job's result.
    """
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    day = resolve_day(day, zone)
    values = {"day": day, **day_figures(day, zone), "computed_at": utcnow()}
    upsert(values)
    return {key: value.isoformat() if isinstance(value, (date, datetime)) else value
            for key, value in values.items()}


def upsert(values):
    """INSERT ... ON CONFLICT (day) DO UPDATE: one statement, so two runs at once cannot collide."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DailyStats).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[DailyStats.day],
        set_={key: statement.excluded[key] for key in values if key != "day"})
    db.session.execute(statement)
    db.session.commit()
