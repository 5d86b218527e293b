"""What /healthz reports: each check answers quickly and a failing one never raises.

The status is 503 only when this web process cannot serve (database or Redis down). Problems behind
it (no worker, no scheduler heartbeat, mail overdue or failing) are listed under "warnings", so a load
balancer keeps routing sign-ups, which the outbox keeps safe, while monitoring alerts on them.
"""
import time
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, get_redis
from app.models import OutboxMail, utcnow
from app.outbox import claimable
from app.queues import MAIL_PAUSE_KEY, QUEUES, SCHEDULER_HEARTBEAT_KEY, get_queue


def health_report():
    report = {"database": check_database(), "redis": check_redis()}
    if report["database"] == "ok":
        report.update(check_outbox())
    if report["redis"] == "ok":
        report.update(check_jobs())
    report["ok"] = report["database"] == "ok" and report["redis"] == "ok"
    report["warnings"] = warnings(report)
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


def check_outbox():
    """Mail the redrive would pick up now (its wake-up was lost), and mail given up in the last day."""
    day_ago = utcnow() - timedelta(days=1)
    try:
        overdue = db.session.scalar(select(func.count()).select_from(OutboxMail).where(
            claimable(current_app.config["OUTBOX_SWEEP_SECONDS"])))
        failed = db.session.scalar(select(func.count()).select_from(OutboxMail).where(
            OutboxMail.status == OutboxMail.FAILED, OutboxMail.updated_at >= day_ago))
        held = db.session.scalar(select(func.count()).select_from(OutboxMail).where(
            OutboxMail.status == OutboxMail.HELD))
    except SQLAlchemyError as exc:
        db.session.rollback()
        return {"outbox": f"error: {type(exc).__name__}"}
    return {"mail_overdue": overdue, "mail_failed_last_day": failed, "notices_held": held}


def check_jobs():
    redis = get_redis()
    try:
        queues = {name: get_queue(name).count for name in QUEUES}
        alive = Worker.all(connection=redis)  # skips registrations whose worker key expired
        listened = {name for worker in alive for name in worker.queue_names()}
        beat = redis.get(SCHEDULER_HEARTBEAT_KEY)
        paused = paused_for(redis)
    except RedisError as exc:
        return {"jobs": f"error: {type(exc).__name__}"}
    # With workers running, a queue no one listens on (the Procfile's worker-bulk down, say) still waits.
    unserved = [name for name in QUEUES if name not in listened] if alive else []
    return {
        "workers": len(alive),
        "queues": queues,
        "jobs_waiting_without_worker": not alive and sum(queues.values()) > 0,
        "queues_without_worker": unserved,
        "jobs_waiting_in_queues_without_worker": sum(queues[name] for name in unserved),
        "scheduler_heartbeat_age_seconds": heartbeat_age(beat),
        "mail_paused_seconds": round(paused, 1),
    }


def paused_for(redis):
    """Seconds every mail worker still waits after a provider's "slow down" (jobs/sendrate.py), 0 when none."""
    ends, (seconds, micros) = redis.get(MAIL_PAUSE_KEY), redis.time()
    return max(0.0, (int(ends) - seconds * 1_000_000 - micros) / 1_000_000) if ends else 0.0


def heartbeat_age(beat):
    """Seconds since the scheduler's last beat; None when the key is gone (its TTL ran out) or unreadable."""
    try:
        return round(max(0.0, time.time() - float(beat)), 1)
    except (TypeError, ValueError):
        return None


def warnings(report):
    found = []
    if report.get("workers") == 0:
        found.append("no worker is running: mail is not being sent")
    if report["redis"] == "ok" and report.get("scheduler_heartbeat_age_seconds") is None:
        found.append("no scheduler heartbeat: recurring jobs and the outbox redrive are not running")
    if report.get("queues_without_worker"):
        found.append(f"no worker listens on {', '.join(report['queues_without_worker'])}: jobs there wait "
                     "(the Procfile's worker serves mail and default, worker-bulk avatars and maintenance)")
    if report.get("mail_paused_seconds"):
        found.append(f"the mail provider asked us to slow down: sending paused for {report['mail_paused_seconds']} s")
    if report.get("mail_overdue"):
        found.append(f"{report['mail_overdue']} mail(s) overdue")
    if report.get("notices_held"):
        found.append(f"{report['notices_held']} security notice(s) held back: see /admin/mail")
    if report.get("mail_failed_last_day"):
        found.append(f"{report['mail_failed_last_day']} mail(s) failed in the last day")
    return found
