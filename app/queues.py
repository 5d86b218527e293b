"""RQ queues on the app's Redis client; jobs are enqueued by dotted name so app/ never imports job code."""
from rq import Queue

from app.extensions import get_redis
from app.requestlog import REQUEST_ID

QUEUES = ("mail", "default", "avatars", "maintenance")  # worker priority order: a picture or a backup never delays mail
SCHEDULER_HEARTBEAT_KEY = "signup:scheduler:heartbeat"  # written by jobs/scheduler.py, read by /healthz
MAIL_PAUSE_KEY = "{mail-rate}:pause"  # when a provider's "slow down" ends: written by jobs/sendrate.py, read by /healthz


class AppQueue(Queue):
    """Every job records the request id it was enqueued under (app/requestlog.py), for its log lines."""

    def create_job(self, *args, meta=None, **kwargs):
        request_id = REQUEST_ID.get()
        if request_id:
            meta = {**(meta or {}), "request_id": request_id}
        return super().create_job(*args, meta=meta, **kwargs)


def get_queue(name="default", connection=None):
    return AppQueue(name, connection=connection or get_redis())
