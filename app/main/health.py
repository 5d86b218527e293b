"""What /healthz reports: each check answers quickly and a failing one never raises."""
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.queues import QUEUES, get_queue, get_redis


def health_report():
    report = {"database": check_database(), "redis": check_redis()}
    if report["redis"] == "ok":
        report.update(check_jobs())
    report["ok"] = report["database"] == "ok" and report["redis"] == "ok"
    return report


def check_database():
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        return f"error: {type(exc).__name__}"


def check_redis():
    try:
        get_redis().ping()
        return "ok"
    except RedisError as exc:
        return f"error: {type(exc).__name__}"


def check_jobs():
    redis = get_redis()
    try:
        queues = {name: get_queue(name).count for name in QUEUES}
        workers = Worker.count(connection=redis)
    except RedisError as exc:
        return {"jobs": f"error: {type(exc).__name__}"}
    return {
        "workers": workers,
        "queues": queues,
        "jobs_waiting_without_worker": workers == 0 and sum(queues.values()) > 0,
    }
