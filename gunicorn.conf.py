"""gunicorn settings read from the working directory: an access log that shows routes, never tokens, and
prometheus-client's multi-process mode so /metrics sums the counters of every web process.

The Procfile's `web:` line keeps every other setting on its command line. The app's own log lines are
redacted by the same rule (app/logs.py), installed by the app factory.
"""
import os
import shutil
import tempfile

from gunicorn.glogging import Logger


def fresh_metrics_dir():
    """Set before the app is imported (--preload imports it after this file): a dead run's files would be summed.

    An operator's PROMETHEUS_MULTIPROC_DIR is emptied; otherwise a new temporary directory is made per start.
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="signup-metrics-")


fresh_metrics_dir()  # before prometheus_client is imported: app.logs below imports the app package

from app.logs import redact  # noqa: E402


class RedactingLogger(Logger):
    """The request line, path, query and Referer are logged with their token-like parts replaced.

    With LOG_FORMAT=json the app writes each request's line itself (app/requestlog.py): none here.
    """

    def access(self, resp, req, environ, request_time):
        if os.environ.get("LOG_FORMAT", "").strip().lower() != "json":
            super().access(resp, req, environ, request_time)

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U", "q", "f", "{referer}i"):
            if name in atoms:
                atoms[name] = redact(atoms[name])
        return atoms


logger_class = RedactingLogger




def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
