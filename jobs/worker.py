"""RQ worker classes that run every job inside a fresh Flask app context.

The app is created once per worker process, before any fork, so a job costs no import or factory work.
The mixins override public rq methods only, with rq's own signatures; tests/test_rq_hooks.py fails if an
rq upgrade renames one of them or stops calling it.
"""
import logging
import os
import signal
import time

from redis.exceptions import RedisError
from rq.worker import SimpleWorker, Worker

from app import create_app
from app.extensions import db
from app.metrics import jobstats
from app.requestlog import REQUEST_ID

log = logging.getLogger("jobs.worker")


class AppContextMixin:
    def __init__(self, *args, app=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app or create_app()
        self.app_pid = os.getpid()

    def perform_job(self, job, queue, execution):
        with self.app.app_context():
            if os.getpid() != self.app_pid:
                # A forked work horse must not reuse the parent's pooled database connections.
                db.engine.dispose(close=False)
            started = time.monotonic()
            token = REQUEST_ID.set(job.meta.get("request_id"))
            try:
                ok = super().perform_job(job, queue, execution)
                seconds = time.monotonic() - started
                log.info("job %s %s in %.3f s", job.func_name, "done" if ok else "failed", seconds)
            finally:
                REQUEST_ID.reset(token)
            record_job(self.connection, job, seconds, ok)
            return ok

    def subscribe(self):
        """Start rq's pubsub thread with SIGTERM and SIGINT blocked in it, so the kernel hands them to the main thread.

        Otherwise a stop signal may land in that thread, and an idle worker stays blocked in its dequeue
        (up to 405 s) until the platform's SIGKILL, instead of stopping at once.
        """
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            super().subscribe()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def record_job(redis, job, seconds, ok):
    """Duration and outcome for /metrics (app/metrics/jobstats.py); lost, never raised, when Redis fails."""
    try:
        jobstats.record(redis, job.func_name, seconds, ok)
    except RedisError:
        pass


class FewerRoundTripsMixin:
    """Drops the Redis writes that rq repeats around every job, which bound a non-forking worker's rate.

    rq sends its worker heartbeat (three commands, not pipelined) three times per job, writes the same
    "idle" state twice and asks whether `rq suspend` was run before every job. Here a plain heartbeat
    goes out at most once per heartbeat_interval, an unchanged state is not written again, and
    suspension is checked at most once a second, as rq itself polls it while suspended. Heartbeats
    with a job's own TTL or inside a pipeline, and every change of state, still go out as rq sends them.
    """

    SUSPENSION_CHECK_SECONDS = 1

    def __init__(self, *args, **kwargs):
        self.plain_heartbeat_at = self.suspension_checked_at = None  # monotonic times of the last ones sent
        super().__init__(*args, **kwargs)

    @property
    def heartbeat_interval(self):
        """Short enough that the worker key (which lives at least worker_ttl past a heartbeat) never lapses.

        After a skipped heartbeat the worker may block in its dequeue for dequeue_timeout (rq: worker_ttl
        - 15 s) before the next one, so the skip window gets half of what is left: 7.5 s with rq's values.
        """
        return max(0, self.worker_ttl - self.dequeue_timeout) / 2

    def check_for_suspension(self, burst):
        now = time.monotonic()
        if self.suspension_checked_at is not None and now - self.suspension_checked_at < self.SUSPENSION_CHECK_SECONDS:
            return
        self.suspension_checked_at = now
        super().check_for_suspension(burst)

    def heartbeat(self, timeout=None, pipeline=None):
        if timeout is None and pipeline is None:
            now = time.monotonic()
            if self.plain_heartbeat_at is not None and now - self.plain_heartbeat_at < self.heartbeat_interval:
                return
            self.plain_heartbeat_at = now
        super().heartbeat(timeout, pipeline)

    def set_state(self, state, pipeline=None):
        if pipeline is None and state == self.get_state():
            return
        super().set_state(state, pipeline)


class AppWorker(AppContextMixin, Worker):
    """Forks a work horse per job: isolation for long maintenance jobs."""


class AppSimpleWorker(AppContextMixin, FewerRoundTripsMixin, SimpleWorker):
    """Runs jobs in the worker process itself: no fork, so mail goes out fast."""
