"""One SMTP connection per worker process (a Sender kept with the worker's app), open between jobs, replaced when untrusted.

Flask-Mail opens a connection per message and sets no timeout; both matter at hundreds of mails a
second and when a provider accepts a connection and then never answers (app/flask_mail_overrides.py adds the timeout).
"""
import select
import smtplib
import time

from flask import current_app

from app.flask_mail_overrides import TimeoutConnection

IDLE_SECONDS = 30  # providers drop idle sessions; after this long we start a fresh one


def settings_key():
    config = current_app.config
    return tuple(config[name] for name in ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL",
                                           "MAIL_USERNAME", "MAIL_TIMEOUT"))


class Sender:
    """The worker's SMTP session: opened on the first mail, kept between jobs, replaced when untrusted."""

    def __init__(self):
        self.connection, self.used_at, self.key = None, 0.0, None

    def reusable(self):
        """Idle sessions are not trusted for long, and one the server has written to (a 421 or a close) is over."""
        connection = self.connection
        if connection is None or connection.host is None or connection.host.sock is None:
            return False
        if time.monotonic() - self.used_at > IDLE_SECONDS:
            return False
        readable, _, _ = select.select([connection.host.sock], [], [], 0)
        return not readable

    def close(self):
        connection, self.connection = self.connection, None
        if connection is not None and connection.host is not None:
            try:
                connection.host.close()
            except OSError:
                pass

    def send(self, message):
        """Send through the kept session, opening a fresh one when needed; every failure propagates.

        A failed send is never repeated here: after a timeout or a lost reply the server may have taken
        the mail, and only the outbox decides whether to try again.
        """
        key = settings_key()
        if self.key != key or not self.reusable():
            self.close()
            connection = TimeoutConnection(current_app.extensions["mail"], current_app.config["MAIL_TIMEOUT"])
            self.connection, self.key = connection.__enter__(), key
        try:
            self.connection.send(message)
        except BaseException:
            self.close()  # the session's state is unknown after any error, the job timeout included
            raise
        self.used_at = time.monotonic()


def sender():
    """The Sender of this process's app: a worker creates its app once (jobs/worker.py) and keeps it."""
    return current_app.extensions.setdefault("smtp_sender", Sender())


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
