"""MAIL_CONNECTIONS SMTP sessions per worker process (Senders kept with the worker's app), open between jobs,
replaced when untrusted, and the sending of a batch over them in parallel, each send let through by the gate.

Flask-Mail opens a connection per message and sets no timeout; both matter at hundreds of mails a
second and when a provider accepts a connection and then never answers (app/flask_mail_overrides.py adds the timeout).
Threads send and nothing else: the job's own thread renders the mails before and records every outcome.
"""
import queue
import re
import select
import smtplib
import threading
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


def senders(count):
    """`count` Senders of this process's app: a worker creates its app once (jobs/worker.py) and keeps them."""
    kept = current_app.extensions.setdefault("smtp_senders", [])
    kept.extend(Sender() for _ in range(count - len(kept)))
    return kept[:count]


def sender():
    """The first Sender, the only one with MAIL_CONNECTIONS=1."""
    return senders(1)[0]


def close_all():
    for kept in current_app.extensions.get("smtp_senders", []):
        kept.close()


UNTRIED = "untried"  # the outcome of a mail whose send never started: the deadline came first


def attempt(sender, gate, message, deadline):
    """One send through the gate: None when the provider took it, UNTRIED, or the exception it failed with."""
    try:
        token = gate.wait(deadline)
    except Exception as exc:  # the gate's Redis: counted as a failed attempt, retried like any other
        return exc
    if token is None:
        return UNTRIED
    try:
        sender.send(message)
    except Exception as exc:  # the job timeout included: every failure is recorded, none loses the mail
        if is_slow_down(exc):
            gate.slow_down()
        return exc
    finally:
        gate.done(token)
    return None


class Batch:
    """Send (key, message) pairs over `connections` kept sessions; iterate for (key, outcome) as each ends.

    One connection sends in the job's own thread, as before. More send from threads, one per Sender,
    which take the next mail as each finishes. close() stops them taking more, waits for the sends under
    way and returns the outcomes not yet iterated, so a job cut short still records what was sent.
    """

    def __init__(self, items, deadline, gate, connections):
        self.items, self.deadline, self.gate = list(items), deadline, gate
        self.results, self.taken, self.threads = queue.SimpleQueue(), 0, []
        self.todo, self.lock, self.stop = iter(self.items), threading.Lock(), threading.Event()
        if connections > 1 and len(self.items) > 1:
            app = current_app._get_current_object()
            self.threads = [threading.Thread(target=self._work, args=(app, each), daemon=True)
                            for each in senders(min(connections, len(self.items)))]
            for thread in self.threads:
                thread.start()

    def _work(self, app, each):
        with app.app_context():
            while not self.stop.is_set():
                with self.lock:
                    item = next(self.todo, None)
                if item is None:
                    return
                try:
                    outcome = attempt(each, self.gate, item[1], self.deadline)
                except Exception as exc:  # whatever happens, the job's thread gets an outcome for every mail
                    outcome = exc
                self.results.put((item[0], outcome))

    def __iter__(self):
        if not self.threads:
            for key, message in self.todo:
                self.taken += 1
                yield key, attempt(sender(), self.gate, message, self.deadline)
            return
        while self.taken < len(self.items):
            outcome = self.results.get()
            self.taken += 1
            yield outcome

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join()
        leftovers = []
        while not self.results.empty():
            leftovers.append(self.results.get())
        return leftovers


def is_permanent(exc):
    """SMTP 5xx means the provider will never take this mail; everything else may pass later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


# A "slow down" reply: the provider throttles us as a whole, not this mail (RFC 5321 421, RFC 3463 X.3.1, X.3.2 and
# X.4.5, and the words providers use with other codes: Amazon SES's 454 "Throttling failure", Microsoft's 451
# 4.7.500 "Server busy"). Not one recipient's state (X.1.*, X.2.*: greylisting, a full mailbox, one mailbox's rate).
SLOW_DOWN_STATUS = ("3.1", "3.2", "4.5")
SLOW_DOWN_WORDS = re.compile(r"\brate\b|throttl|too many|busy|congest", re.IGNORECASE)


def is_slow_down(exc):
    """A temporary reply that should pause every worker's sends, not only retry this mail."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = list(exc.recipients.values())
    elif isinstance(exc, smtplib.SMTPResponseException):
        replies = [(exc.smtp_code, exc.smtp_error)]
    else:
        return False
    return bool(replies) and all(_slow_down_reply(code, message) for code, message in replies)


def _slow_down_reply(code, message):
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    if not 400 <= code < 500:
        return False
    if code == 421:
        return True
    status = re.match(r"\s*4\.(\d{1,3}\.\d{1,3})\b", text)
    if status and status.group(1).split(".")[0] in ("1", "2"):
        return False
    return bool(status and status.group(1) in SLOW_DOWN_STATUS) or bool(SLOW_DOWN_WORDS.search(text))


def describe(exc):
    """The provider's own words where there are some ("550 5.1.1 No such mailbox"), for `flask mail status`."""
    def text(message):
        return message.decode(errors="replace") if isinstance(message, bytes) else str(message)

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{address}: {code} {text(message)}" for address, (code, message) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"
