"""RQ worker classes that run every job inside a fresh Flask app context.

The app is created once per worker process, before any fork, so a job costs no import or factory work.
"""
import os
import signal
import time

from rq.worker import SimpleWorker, Worker

from app import create_app
from app.extensions import db


class AppContextMixin:
    def __init__(self, *args, app=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app or create_app()
        self._parent_pid = os.getpid()

    def perform_job(self, *args, **kwargs):
        with self.app.app_context():
            if os.getpid() != self._parent_pid:
                # A forked work horse must not reuse the parent's pooled database connections.
                db.engine.dispose(close=False)
            return super().perform_job(*args, **kwargs)

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
    "idle" state twice and asks whether `rq suspend` was run before every job. The worker key lives for
    worker_ttl + 60 s (480 s), so one plain heartbeat every HEARTBEAT_SECONDS keeps it alive as surely;
    heartbeats with a job's own TTL or inside a pipeline, and every change of state, still go out as rq
    sends them. A suspension is noticed within a second, as rq itself polls it while suspended.
    """

    HEARTBEAT_SECONDS = 10
    SUSPENSION_CHECK_SECONDS = 1

    def check_for_suspension(self, burst):
        now = time.monotonic()
        if now - getattr(self, "_suspension_checked_at", -1e9) < self.SUSPENSION_CHECK_SECONDS:
            return
        self._suspension_checked_at = now
        super().check_for_suspension(burst)

    def heartbeat(self, timeout=None, pipeline=None):
        now = time.monotonic()
        if timeout is None and pipeline is None and now - getattr(self, "_beat_at", -1e9) < self.HEARTBEAT_SECONDS:
            return
        self._beat_at = now
        super().heartbeat(timeout, pipeline)

    def set_state(self, state, pipeline=None):
        if pipeline is None and state == getattr(self, "_state", None):
            return
        super().set_state(state, pipeline)


class AppWorker(AppContextMixin, Worker):
    """Forks a work horse per job: isolation for long maintenance jobs."""


class AppSimpleWorker(AppContextMixin, FewerRoundTripsMixin, SimpleWorker):
    """Runs jobs in the worker process itself: no fork, so mail goes out fast."""
