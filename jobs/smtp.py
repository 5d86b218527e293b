"""One SMTP connection per worker process, kept open between jobs and replaced when it cannot be trusted.

Flask-Mail opens a connection per message and sets no timeout; both matter at hundreds of mails a
second and when a provider accepts a connection and then never answers.
"""
import select
import smtplib
import time

from flask import current_app
from flask_mail import Connection

IDLE_SECONDS = 30  # providers drop idle sessions; after this long we start a fresh one


class TimeoutConnection(Connection):
    """Flask-Mail's connection with MAIL_TIMEOUT on the connect and on every reply."""

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


def settings_key():
    config = current_app.config
    return tuple(config[name] for name in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL",
                                           "MAIL_USERNAME", "MAIL_TIMEOUT"))


def reusable(connection):
    """Idle sessions are not trusted for long, and one the server has written to (a 421 or a close) is over."""
    if connection is None or connection.host is None or connection.host.sock is None:
        return False
    if time.monotonic() - _cached["used_at"] > IDLE_SECONDS:
        return False
    readable, _, _ = select.select([connection.host.sock], [], [], 0)
    return not readable


def close():
    connection = _cached["connection"]
    _cached["connection"] = None
    if connection is not None and connection.host is not None:
        try:
            connection.host.close()
        except OSError:
            pass


def send_message(message):
    """Send through the cached connection, opening a fresh one when needed; every failure propagates.

    A failed send is never repeated here: after a timeout or a lost reply the server may have taken the
    mail, and only the outbox decides whether to try again.
    """
    key = settings_key()
    if _cached["key"] != key or not reusable(_cached["connection"]):
        close()
        connection = TimeoutConnection(current_app.extensions["mail"], current_app.config["MAIL_TIMEOUT"])
        _cached["connection"], _cached["key"] = connection.__enter__(), key
    try:
        _cached["connection"].send(message)
    except BaseException:
        close()  # the session's state is unknown after any error, the job timeout included
        raise
    _cached["used_at"] = time.monotonic()


def is_permanent(exc):
    """SMTP 5xx means the provider will never take this mail; everything else may pass later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


def describe(exc):
    """The provider's own words where there are some ("550 5.1.1 No such mailbox"), for `flask mail status`."""
    def text(message):
        return message.decode(errors="replace") if isinstance(message, bytes) else str(message)

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{address}: {code} {text(message)}" for address, (code, message) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"
