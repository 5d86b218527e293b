"""One SMTP connection per worker process, kept open between jobs and re-opened on error.

Flask-Mail opens a connection per message and sets no timeout; both matter at hundreds of mails a
second and when a provider accepts a connection and then never answers.
"""
import smtplib
import time

from flask import current_app
from flask_mail import Connection

IDLE_SECONDS = 30  # providers drop idle sessions; after this long we start a fresh one


class TimeoutConnection(Connection):
    def __init__(self, mail_state, timeout):
        super().__init__(mail_state)
        self.timeout = timeout

    def configure_host(self):
        cls = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = cls(self.mail.server, self.mail.port, timeout=self.timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host


_cached = {"connection": None, "used_at": 0.0, "key": None}


def _open():
    state = current_app.extensions["mail"]
    connection = TimeoutConnection(state, current_app.config["MAIL_TIMEOUT"])
    connection.__enter__()
    return connection


def close():
    connection = _cached["connection"]
    _cached["connection"] = None
    if connection is not None and connection.host is not None:
        try:
            connection.host.close()
        except OSError:
            pass


def send_message(message):
    """Send through the cached connection; a stale one is replaced once, real failures propagate."""
    key = (current_app.config["MAIL_SERVER"], current_app.config["MAIL_PORT"])
    fresh = False
    if (_cached["connection"] is None or _cached["key"] != key
            or time.monotonic() - _cached["used_at"] > IDLE_SECONDS):
        close()
        _cached["connection"], _cached["key"], fresh = _open(), key, True
    try:
        _cached["connection"].send(message)
    except smtplib.SMTPServerDisconnected:
        close()
        if fresh:
            raise
        _cached["connection"] = _open()  # the provider closed an idle session: one more try
        _cached["connection"].send(message)
    except Exception:
        close()  # the session's state is unknown after any other error
        raise
    _cached["used_at"] = time.monotonic()
