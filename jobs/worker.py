"""RQ worker classes that run every job inside a fresh Flask app context.

The app is created once per worker process, before any fork, so a job costs no import or factory work.
The mixins override public rq methods only, with rq's own signatures; tests/test_rq_hooks.py fails if an
rq upgrade renames one of them or stops calling it.
"""
import logging
import os
import resource
import signal
import time

from rq.worker import SimpleWorker, Worker

from app import create_app
from app.extensions import db

log = logging.getLogger(__name__)


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
                bound_memory(self.app.config["JOB_MEMORY_MB"])
            return super().perform_job(job, queue, execution)

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


def bound_memory(megabytes):
    """In a forked work horse: its address space may grow by `megabytes` past what it inherited.

    Past it an allocation fails (MemoryError), so one picture that eats memory fails its own job and the
    worker, and every other process on the host, goes on. 0 leaves it unbounded; off Linux, it is skipped.
    """
    if not megabytes:
        return
    try:
        with open("/proc/self/statm") as statm:
            inherited = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        log.warning("JOB_MEMORY_MB is not applied: no /proc/self/statm on this system")
        return
    limit = inherited + megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class AppWorker(AppContextMixin, Worker):
    """Forks a work horse per job (the Procfile's worker-bulk: avatars, maintenance): untrusted pictures and
    long backups run apart from mail, each job within JOB_MEMORY_MB and its own timeout."""


class AppSimpleWorker(AppContextMixin, FewerRoundTripsMixin, SimpleWorker):
    """Runs jobs in the worker process itself: no fork, so mail goes out fast."""
