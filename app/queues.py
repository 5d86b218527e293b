"""RQ queues on the app's Redis client; jobs are enqueued by dotted name so app/ never imports job code."""
from rq import Queue

from app.extensions import get_redis

QUEUES = ("mail", "default", "avatars", "maintenance")  # worker priority order: a picture or a backup never delays mail
SCHEDULER_HEARTBEAT_KEY = "signup:scheduler:heartbeat"  # written by jobs/scheduler.py, read by /healthz


def get_queue(name="default", connection=None):
    return Queue(name, connection=connection or get_redis())
