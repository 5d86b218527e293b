"""Redis client and RQ queues; enqueueing from a request never raises, the outbox covers failures."""
import logging

from flask import current_app
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)

QUEUES = ("mail", "default", "maintenance")  # worker priority order: a slow backup never delays mail


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


def enqueue_mail(outbox_id):
    """Wake the worker for one outbox row; by dotted name so the web app never imports job code."""
    return enqueue("mail", "jobs.mail.send", outbox_id)
