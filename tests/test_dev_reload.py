"""`make run`'s worker restarts by itself when a Python file changes (watchfiles in Procfile.dev's worker line)."""
import os
import shutil

import pytest
from redis import Redis
from rq import Worker

from tests.services import ROOT, Process, wait_until

pytestmark = pytest.mark.processes


def test_the_dev_worker_restarts_when_python_code_changes(app_env, redis_server, tmp_path):
    checkout = tmp_path / "checkout"  # a copy, so the test edits no file of the real checkout
    for name in ("app", "jobs", "devtools", "templates", "migrations"):
        shutil.copytree(os.path.join(ROOT, name), checkout / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("config.py", "wsgi.py"):
        shutil.copy(os.path.join(ROOT, name), checkout / name)
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()

    def workers():
        return {worker.name for worker in Worker.all(connection=redis)}

    worker = Process("worker", app_env, str(tmp_path), procfile="Procfile.dev", cwd=str(checkout)).start()
    try:
        first = wait_until(lambda: names if len(names := workers()) == 2 else None, timeout=60,
                           message="the dev worker pool registered")
        with open(checkout / "config.py", "a") as f:
            f.write("\n# a developer saves a change\n")
        wait_until(lambda: len(names := workers()) == 2 and not names & first, timeout=60,
                   message="a new worker pool after the change")
    finally:
        worker.stop()
    assert "Traceback" not in worker.log()
