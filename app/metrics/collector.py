"""State read from the database and Redis at scrape time, so every process's work shows, wherever it runs.

Each scrape costs a few grouped queries over indexed columns and a handful of Redis calls. A failing
source drops its own series and sets signup_metrics_source_up{source} to 0, so the scrape still answers.
"""
import time

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from redis.exceptions import RedisError
from rq import Worker
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, get_redis
from app.health import paused_for
from app.metrics import jobstats
from app.models import AvatarUpload, Event, OutboxMail, utcnow
from app.queues import QUEUES, SCHEDULER_HEARTBEAT_KEY, get_queue


class StateCollector:
    def collect(self):
        up = GaugeMetricFamily("signup_metrics_source_up", "1 when the source could be read for this scrape.",
                               labels=["source"])
        for source, read in (("database", database_families), ("redis", redis_families)):
            try:
                yield from read()
                up.add_metric([source], 1)
            except (SQLAlchemyError, RedisError):
                db.session.rollback()
                up.add_metric([source], 0)
        yield up


def database_families():
    """Built in full before any is yielded, so a failed query never leaves half a source in the scrape."""
    events = CounterMetricFamily(
        "signup_events", "Events in the app's log by kind (registered, verified, login_ok, login_failed, "
        "captcha_failed, ...); older than EVENT_RETENTION_DAYS are pruned, which reads as a counter reset.",
        labels=["kind"])
    for kind, count in db.session.execute(select(Event.kind, func.count()).group_by(Event.kind)):
        events.add_metric([kind], count)
    mails = GaugeMetricFamily("signup_outbox_mails", "Outbox mails by state and kind.", labels=["state", "kind"])
    for state, kind, count in db.session.execute(
            select(OutboxMail.status, OutboxMail.kind, func.count()).group_by(OutboxMail.status, OutboxMail.kind)):
        mails.add_metric([state, kind], count)
    oldest = db.session.scalar(select(func.min(OutboxMail.created_at)).where(
        OutboxMail.status.in_((OutboxMail.PENDING, OutboxMail.SENDING))))
    age = GaugeMetricFamily("signup_outbox_oldest_pending_age_seconds",
                            "Age of the oldest mail not yet sent (0 when none waits).",
                            value=(utcnow() - oldest).total_seconds() if oldest else 0)
    avatars = GaugeMetricFamily("signup_avatar_uploads", "Avatar uploads by state.", labels=["state"])
    for state, count in db.session.execute(
            select(AvatarUpload.status, func.count()).group_by(AvatarUpload.status)):
        avatars.add_metric([state], count)
    db.session.rollback()  # end the read transaction: a scrape holds no snapshot open
    return [events, mails, age, avatars]


def redis_families():
    redis = get_redis()
    queued = GaugeMetricFamily("signup_queue_jobs", "Jobs waiting in each RQ queue.", labels=["queue"])
    failed = GaugeMetricFamily("signup_queue_failed_jobs", "Jobs in each queue's failed registry.", labels=["queue"])
    for name in QUEUES:
        queue = get_queue(name)
        queued.add_metric([name], queue.count)
        failed.add_metric([name], FailedJobRegistry(queue=queue).count)
    workers = GaugeMetricFamily("signup_workers_alive", "RQ workers whose heartbeat key is live.",
                                value=len(Worker.all(connection=redis)))
    beat = redis.get(SCHEDULER_HEARTBEAT_KEY)
    scheduler = GaugeMetricFamily("signup_scheduler_up", "1 while the scheduler's heartbeat key exists.",
                                  value=1 if beat else 0)
    paused = GaugeMetricFamily("signup_mail_paused_seconds",
                               "Seconds the mail drain still waits after the provider's last \"slow down\" reply.",
                               value=paused_for(redis))
    families = [queued, failed, workers, scheduler, paused]
    if beat:
        families.append(GaugeMetricFamily("signup_scheduler_heartbeat_age_seconds",
                                          "Seconds since the scheduler's last heartbeat.",
                                          value=max(0.0, time.time() - float(beat))))
    return families + jobstats.families(redis)
