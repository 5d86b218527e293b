"""The stats job: one row per day in TIMEZONE, counted in SQL, upserted, on SQLite and PostgreSQL."""
from datetime import date, datetime, timedelta

import pytest
from redis import Redis

from app.extensions import db
from app.models import DailyStats, Event, User
from app.queues import get_queue
from jobs import stats
from jobs.worker import AppSimpleWorker

# 2026-03-10 in Asia/Shanghai (UTC+8) runs from 2026-03-09 16:00 to 2026-03-10 16:00 UTC.
DAY = date(2026, 3, 10)
START = datetime(2026, 3, 9, 16, 0)


def add_known_day():
    """Five registrations (one account since removed), three verified after 60 s, 120 s and 600 s."""
    def at(minutes):
        return START + timedelta(minutes=minutes)

    users = []
    for i, delay in enumerate([60, 120, 600, None, None]):
        user = User(username=f"u{i}", email=f"u{i}@example.test", password_hash="x", created_at=at(10 * i))
        if delay is not None:
            user.verified_at = user.created_at + timedelta(seconds=delay)
        users.append(user)
        db.session.add(user)
    db.session.flush()
    kinds = [(Event.REGISTERED, u, u.created_at) for u in users]
    kinds += [(Event.VERIFIED, u, u.verified_at) for u in users if u.verified_at]
    kinds += [(Event.MAIL_SENT, users[0], at(1)), (Event.MAIL_SENT, users[1], at(11)),
              (Event.MAIL_FAILED, users[4], at(41)), (Event.LOGIN_OK, users[0], at(100)),
              (Event.LOGIN_OK, users[0], at(200)), (Event.LOGIN_FAILED, None, at(300)),
              (Event.CAPTCHA_FAILED, None, at(0)), (Event.CAPTCHA_FAILED, None, at(1439)),
              (Event.LOGOUT, users[0], at(201)),
              # just outside the day, on either side
              (Event.REGISTERED, None, at(-1)), (Event.LOGIN_OK, users[0], at(1440))]
    for kind, user, created_at in kinds:
        db.session.add(Event(kind=kind, user=user, created_at=created_at))
    db.session.delete(users[3])  # removed by cleanup: its registration event stays, with user_id NULL
    db.session.commit()


EXPECTED = dict(registrations=5, mails_sent=2, verifications=3, verification_rate=0.6,
                median_seconds_to_verify=120.0, logins=2, failed_logins=1, captcha_failures=2, mails_failed=1)


def row_values(day):
    row = db.session.get(DailyStats, day)
    return {key: getattr(row, key) for key in EXPECTED}


def check_row(day):
    values = row_values(day)
    assert values.pop("median_seconds_to_verify") == pytest.approx(EXPECTED["median_seconds_to_verify"], abs=0.01)
    assert values == {k: v for k, v in EXPECTED.items() if k != "median_seconds_to_verify"}


def test_stats_row_for_a_day_with_known_events(make_app, redis_server):
    app = make_app(TIMEZONE="Asia/Shanghai")
    with app.app_context():
        add_known_day()
        job = get_queue("default").enqueue("jobs.stats.record_day", DAY.isoformat())
    AppSimpleWorker(["default"], connection=Redis.from_url(redis_server.url), app=app).work(burst=True)
    assert job.get_status(refresh=True) == "finished"
    with app.app_context():
        check_row(DAY)


def test_rerunning_a_day_rewrites_the_same_row(make_app):
    app = make_app(TIMEZONE="Asia/Shanghai")
    with app.app_context():
        add_known_day()
        stats.record_day(DAY.isoformat())
        first = row_values(DAY)
        stats.record_day(DAY.isoformat())
        db.session.expire_all()
        assert row_values(DAY) == first
        assert db.session.query(DailyStats).count() == 1


def test_median_of_an_even_count_averages_the_middle_two(app):
    with app.app_context():
        for i, delay in enumerate([10, 20, 40, 1000]):
            created = datetime(2026, 5, 1, 8, i)
            user = User(username=f"e{i}", email=f"e{i}@example.test", password_hash="x", created_at=created,
                        verified_at=created + timedelta(seconds=delay))
            db.session.add(user)
            db.session.add(Event(kind=Event.REGISTERED, user=user, created_at=created))
        db.session.commit()
        result = stats.record_day("2026-05-01")
        assert result["median_seconds_to_verify"] == pytest.approx(30.0, abs=0.01)
        assert result["verification_rate"] == 1.0


def test_a_day_without_events_gives_zeros_and_no_rate(app):
    with app.app_context():
        result = stats.record_day("yesterday")
        assert result["registrations"] == 0
        assert result["verification_rate"] is None
        assert result["median_seconds_to_verify"] is None


@pytest.mark.processes
def test_stats_on_postgresql(make_app, postgres_server):
    app = make_app(TIMEZONE="Asia/Shanghai", DATABASE_URL=postgres_server.create_database("stats"))
    with app.app_context():
        add_known_day()
        stats.record_day(DAY.isoformat())
        stats.record_day(DAY.isoformat())
        check_row(DAY)
        db.session.remove()
        db.engine.dispose()
