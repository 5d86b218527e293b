"""Request ids and JSON log lines (LOG_FORMAT=json): one line per request, and the id in the jobs it enqueued.

The id comes from X-Request-ID only behind TRUSTED_PROXIES (a proxy sets it; a visitor must not choose
what operators grep for), else it is generated; it goes back as a response header. app/queues.py stores
it in job.meta and jobs/worker.py sets it again while the job runs, so its log lines carry the same id.
A request line names the route rule (`/auth/verify/<token>`), never the path, so no mailed token is logged.
"""
import contextvars
import json
import logging
import re
import time
import uuid

from flask import current_app, g, request

REQUEST_ID = contextvars.ContextVar("request_id", default=None)
TRUSTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
log = logging.getLogger("app.request")


def init_app(app):
    app.before_request(start)
    app.after_request(finish)
    app.teardown_request(lambda error: REQUEST_ID.set(None))


def start():
    sent = request.headers.get("X-Request-ID", "")
    trusted = current_app.config["TRUSTED_PROXIES"] and TRUSTED_ID.fullmatch(sent)
    REQUEST_ID.set(sent if trusted else uuid.uuid4().hex)
    g.request_started = time.monotonic()


def finish(response):
    response.headers["X-Request-ID"] = REQUEST_ID.get() or ""
    if current_app.config["LOG_FORMAT"] == "json":
        log.info("request", extra={"http": {
            "method": request.method, "route": request.url_rule.rule if request.url_rule else None,
            "endpoint": request.endpoint, "status": response.status_code,
            "duration_ms": round((time.monotonic() - g.get("request_started", time.monotonic())) * 1000, 1)}})
    return response


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and a request's `http` fields."""

    def format(self, record):
        line = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                "message": record.getMessage(), "request_id": REQUEST_ID.get()}
        if hasattr(record, "http"):
            line["http"] = record.http
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(app, text_format):
    """JSON whenever asked for (even under testing, where text logging is left to pytest); text outside tests."""
    if app.config["LOG_FORMAT"] == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    elif not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format=text_format)
