"""Flask-Mail, adjusted: its two overrides in this project, each with the reason it was measured for.

`mailer` (app/extensions.py) is the stock extension object; the worker sends through TimeoutConnection
(jobs/smtp.py) and renders Message (app/emails.py). Message relies on Flask-Mail's private `_message()`,
so Flask-Mail is pinned (requirements.txt); every mail test reads what the SMTP sink received.
"""
import smtplib
from email import policy

import flask_mail

SMTP_COMPAT32 = policy.compat32.clone(linesep="\r\n")


class Message(flask_mail.Message):
    """Flask-Mail's message, written out without re-parsing every header it has just built.

    Flask-Mail builds the MIME tree with the email package's compat32 classes and already encodes every
    header to ASCII (RFC 2047), then serialises through policy.SMTP, which parses each header again:
    half of the message's cost (measured 0.97 -> 0.46 ms per message, bench/RESULTS.md). compat32 with
    CRLF writes the same tree as it is.
    """

    def as_bytes(self):
        return self._message().as_bytes(policy=SMTP_COMPAT32)


class TimeoutConnection(flask_mail.Connection):
    """Flask-Mail's connection with MAIL_TIMEOUT on the connect and on every reply.

    Flask-Mail sets none: a provider that accepts the connection and then never answers would hold a
    worker until the job timeout (tests/test_mail.py: a server that never answers costs one timeout).
    """

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
