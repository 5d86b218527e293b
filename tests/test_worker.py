"""The Procfile's worker: the app built once per worker process, every job in an app context, timeouts enforced."""
import os
import time
import uuid

import pytest
from flask import current_app
from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus

from tests.services import Process, RedisServer, wait_until

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


def test_busy_workers_wait_out_a_redis_outage_instead_of_quitting(app_env, tmp_path):
    """rq ends a worker on a Redis error anywhere but its dequeue; the workers' connection waits it out instead."""
    server = RedisServer(appendonly=True).start()  # its data survives the restart, as a Sentinel's new primary has it
    env = {**app_env, "REDIS_URL": server.url, "WORKER_CONCURRENCY": "1"}
    workers = [Process(name, env, str(tmp_path)).start() for name in ("worker", "worker-bulk")]
    try:
        redis = Redis.from_url(server.url)
        wait_until(lambda: len(Worker.all(connection=redis)) == 2, timeout=30, message="both workers up")
        jobs = [Queue(name, connection=redis).enqueue(nap, 2) for name in ("default", "maintenance")]
        wait_until(lambda: all(job.get_status(refresh=True) == JobStatus.STARTED for job in jobs), timeout=30,
                   message="both jobs running")
        server.stop()
        time.sleep(12)  # the outage itself: a primary's death, the Sentinels' down-after and the switch
        server.start()
        wait_until(lambda: all(job.get_status(refresh=True) == JobStatus.FINISHED for job in jobs), timeout=60,
                   message="both jobs recorded as finished")
        assert [worker.process.poll() for worker in workers] == [None, None]
        Queue("maintenance", connection=redis).enqueue(stamp, "test:later")
        wait_until(lambda: redis.llen("test:later"), timeout=30, message="the bulk worker takes the next job")
    finally:
        for worker in workers:
            worker.stop()
        server.cleanup()
    assert "quitting" not in workers[0].log() + workers[1].log()
