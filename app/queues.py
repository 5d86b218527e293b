"""Redis client, RQ queues and outbox wake-ups; enqueueing never raises, the outbox covers failures."""
import logging
from datetime import timedelta

from flask import current_app
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import JobStatus
from sqlalchemy import and_, or_

from app.models import OutboxMail, utcnow

log = logging.getLogger(__name__)

QUEUES = ("mail", "default", "maintenance")  # worker priority order: a slow backup never delays mail
SCHEDULER_HEARTBEAT_KEY = "signup:scheduler:heartbeat"  # written by jobs/scheduler.py, read by /healthz


def redis_client(url):
    """Short timeouts and no retries: a dead Redis costs a request about a second, not a minute.

    Bytes in, bytes out (no decode_responses) because RQ stores pickled payloads on the same client.
    """
    return Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0),
                          health_check_interval=30)


def get_redis():
    return current_app.extensions["redis"]


def get_queue(name="default", connection=None):
    return Queue(name, connection=connection or get_redis())


def enqueue(queue_name, func, *args, **options):
    """Enqueue a job after the caller committed; log and return None when Redis is unavailable."""
    try:
        return get_queue(queue_name).enqueue(func, *args, **options)
    except RedisError as exc:
        log.warning("could not enqueue %s%r on %s: %s", getattr(func, "__name__", func), args, queue_name, exc)
        return None


def mail_job_timeout():
    """A whole SMTP exchange may take two MAIL_TIMEOUTs; the row's lease outlasts this (jobs/mail.py)."""
    return 2 * current_app.config["MAIL_TIMEOUT"]


def enqueue_mail(outbox_id, attempt=0, delay=None):
    """Wake the worker for one outbox row, now or in `delay` seconds; never raises (logs, returns None).

    By dotted name, so the web app never imports job code. The job id names the row and the attempt, so
    a sweep adds nothing while a wake-up already waits in the queue; any other record under that id (a
    finished, failed, overdue or killed job) is replaced, so it can never block the row. A duplicate
    wake-up is harmless: the job claims the row before it sends.
    """
    queue = get_queue("mail")
    job_id = f"mail-{outbox_id}-{attempt}"
    options = dict(job_id=job_id, unique=True, result_ttl=0, job_timeout=mail_job_timeout())
    try:
        for _ in range(2):
            try:
                if delay:
                    return queue.enqueue_in(timedelta(seconds=delay), "jobs.mail.send", outbox_id, **options)
                return queue.enqueue("jobs.mail.send", outbox_id, **options)
            except DuplicateJobError:
                job = queue.fetch_job(job_id)
                if job is not None and job.get_status(refresh=False) == JobStatus.QUEUED:
                    return job
                if job is not None:
                    job.delete()
    except RedisError as exc:
        log.warning("could not wake the worker for mail %s: %s (the outbox redrive will)", outbox_id, exc)
    except Exception:  # e.g. an unreadable old record under that id: the sign-up must still succeed
        log.exception("could not wake the worker for mail %s (the outbox redrive will)", outbox_id)
    return None


def lost_wakeups(grace_seconds):
    """Outbox rows whose wake-up must be presumed lost: due for longer than the grace, or a lapsed lease.

    A lapsed lease means the worker that claimed the row died mid-send (SIGKILL, OOM, host lost).
    """
    now = utcnow()
    return or_(
        and_(OutboxMail.status == OutboxMail.PENDING,
             OutboxMail.next_attempt_at <= now - timedelta(seconds=grace_seconds)),
        and_(OutboxMail.status == OutboxMail.SENDING, OutboxMail.lease_until < now),
    )
