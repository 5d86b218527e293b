"""RQ worker classes that run every job inside a fresh Flask app context.

The app is created once per worker process, before any fork, so a job costs no import or factory work.
"""
import os
import signal

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


class AppWorker(AppContextMixin, Worker):
    """Forks a work horse per job: isolation for long maintenance jobs."""


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in the worker process itself: no fork, so mail goes out fast."""
