"""The Procfile's worker: the app built once per worker process, every job in an app context, timeouts enforced."""
import os
import time
import uuid

import pytest
from flask import current_app
from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus

from tests.services import Process, wait_until

pytestmark = pytest.mark.processes

JOBS = 12


def stamp(key):
    """A tiny job: which process ran it, and which app object (marked on first use) it ran in."""
    app = current_app._get_current_object()
    marker = app.extensions.setdefault("test_worker_marker", uuid.uuid4().hex)
    Redis.from_url(app.config["REDIS_URL"]).rpush(key, f"{os.getpid()} {marker}")


def nap(seconds):
    time.sleep(seconds)


def test_worker_builds_the_app_once_per_process_not_per_job(app_env, redis_server, tmp_path):
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()
    key = "test:stamps"
    worker = Process("worker", app_env, str(tmp_path)).start()
    try:
        queue = Queue("mail", connection=redis)
        for _ in range(JOBS):
            queue.enqueue(stamp, key)
        wait_until(lambda: redis.llen(key) >= JOBS, timeout=60, message=f"{JOBS} jobs done")
        # Fewer heartbeats and state writes per job, yet the workers stay registered and show "idle".
        wait_until(lambda: [w.get_state() for w in Worker.all(connection=redis)] == ["idle", "idle"], timeout=30,
                   message="both pool workers registered and idle")
        assert all(redis.ttl(w.key) > 0 for w in Worker.all(connection=redis))
    finally:
        worker.stop()
    stamps = [item.decode().split() for item in redis.lrange(key, 0, -1)]
    apps_per_process = {}
    for pid, marker in stamps:
        apps_per_process.setdefault(pid, set()).add(marker)
    # A worker that imported or built the app per job would show one app per job.
    assert all(len(markers) == 1 for markers in apps_per_process.values()), apps_per_process
    assert len(apps_per_process) < JOBS, "every job ran in a new process: the app is rebuilt or re-forked per job"
    assert "Traceback" not in worker.log()


def test_worker_enforces_the_job_timeout_and_keeps_working(app_env, redis_server, tmp_path):
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()
    worker = Process("worker", {**app_env, "WORKER_CONCURRENCY": "1"}, str(tmp_path)).start()
    try:
        queue = Queue("default", connection=redis)
        stuck = queue.enqueue(nap, 30, job_timeout=1)
        after = Queue("mail", connection=redis).enqueue(stamp, "test:after")
        wait_until(lambda: stuck.get_status(refresh=True) == JobStatus.FAILED, timeout=30,
                   message="the stuck job failed by timeout")
        wait_until(lambda: redis.llen("test:after"), timeout=30, message="the next job ran")
    finally:
        worker.stop()
    assert "JobTimeoutException" in Job.fetch(stuck.id, connection=redis).latest_result().exc_string
    assert after.get_status(refresh=True) == JobStatus.FINISHED
