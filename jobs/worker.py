"""RQ worker classes that run every job inside a fresh Flask app context.

The app is created once per worker process, before any fork, so a job costs no import or factory work.
The mixin overrides public rq methods only, with rq's own signatures; tests/test_rq_hooks.py fails if an
rq upgrade renames one of them or stops calling it. (A mixin that skipped rq's repeated heartbeats and state
writes per job was dropped: the mail bench measured no gain, 506 against 472 mails/s, ratio 0.89-1.07 per round.)
"""
import logging
import os
import resource
import signal
import time

from redis import Redis
from redis.exceptions import RedisError
from rq.worker import SimpleWorker, Worker

from app import create_app
from app.extensions import db, redis_client
from app.metrics import jobstats
from app.requestlog import REQUEST_ID
from config import ConfigError
from jobs import schedule

log = logging.getLogger(__name__)

REDIS_PATIENCE = 30  # seconds: a primary's death, the Sentinels' down-after (5 s in the README) and the switch


class WorkerRedis(Redis):
    """The rq CLI's connection (`--connection-class`): REDIS_URL read as the app reads it, Sentinel included,
    and patient: each command is retried for REDIS_PATIENCE seconds. rq ends a worker on any Redis error
    outside its dequeue ("unhandled exception, quitting"), and a busy worker meets one at every bookkeeping
    write, so without this a primary that dies mid-job ends the worker instead of being waited for.

    rq builds it with from_url(--url); the worker-pool's children rebuild it from its pool's settings.
    """

    @classmethod
    def from_url(cls, url, **kwargs):
        try:
            return redis_client(url, patience=REDIS_PATIENCE, redis_class=cls)
        except ConfigError as exc:
            raise SystemExit(f"configuration error: {exc}") from None


class AppContextMixin:
    def __init__(self, *args, app=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app or create_app()
        self.app_pid = os.getpid()

    def execute_job(self, job, queue):
        """A recurring job of an earlier release whose function is gone is cancelled, not failed: the copy
        the old scheduler queued before an upgrade would otherwise fail once, and page someone."""
        if schedule.retired(job, self.app.config):
            log.warning("cancelled %s: a recurring job of an earlier release (%s is gone)", job.id, job.func_name)
            job.cancel()
            return None
        return super().execute_job(job, queue)

    def perform_job(self, job, queue, execution):
        with self.app.app_context():
            if os.getpid() != self.app_pid:
                # A forked work horse must not reuse the parent's pooled database connections.
                db.engine.dispose(close=False)
                bound_memory(self.app.config["JOB_MEMORY_MB"])
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


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in the worker process itself: no fork, so mail goes out fast."""
