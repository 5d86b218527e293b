"""A local SMTP sink (aiosmtpd): prints each mail for `make run`, records and misbehaves for tests.

Run it with: python -m devtools.mailsink [--port 1025]
"""
import argparse
import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass

from aiosmtpd.controller import Controller

DEFER = "451 4.3.0 Try again later"


@dataclass
class ReceivedMail:
    sender: str
    recipients: list
    subject: str
    text: str
    html: str | None
    raw: bytes
    received_at: float = 0.0  # time.time() when DATA arrived: tests count sends per second
    peer: tuple = ()  # the client's address and port: one per SMTP connection


def parse(envelope):
    message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    return ReceivedMail(
        sender=envelope.mail_from,
        recipients=list(envelope.rcpt_tos),
        subject=str(message["Subject"] or ""),
        text=text_part.get_content() if text_part else "",
        html=html_part.get_content() if html_part else None,
        raw=envelope.original_content or envelope.content,
    )


class SinkHandler:
    """Accepts every mail unless a test told it to stall, defer (4xx) or refuse (5xx)."""

    def __init__(self, echo=False):
        self.echo = echo
        self.messages = []
        self.delay = 0.0  # seconds to wait before answering DATA, like a slow provider
        self.stall_after_accept = 0.0  # keep the mail, then answer this late: an ambiguous failure
        self.defer_next = 0  # answer defer_reply to this many DATA commands
        self.defer_reply = DEFER  # a greylisting-like 451 unless a test wants a provider's "slow down"
        self.refused = set()  # recipients answered 550 at RCPT
        self.attempts = 0
        self._changed = threading.Condition()

    def reset(self):
        with self._changed:
            self.messages.clear()
            self.delay, self.defer_next, self.refused, self.attempts = 0.0, 0, set(), 0
            self.defer_reply = DEFER
            self.stall_after_accept = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        arrived = time.time()
        self.attempts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.defer_next > 0:
            self.defer_next -= 1
            return self.defer_reply
        received = parse(envelope)
        received.received_at, received.peer = arrived, tuple(session.peer)
        with self._changed:
            self.messages.append(received)
            self._changed.notify_all()
        if self.echo:
            print_mail(received)
        if self.stall_after_accept:
            await asyncio.sleep(self.stall_after_accept)
        return "250 Message accepted for delivery"

    def wait_for(self, predicate=lambda messages: bool(messages), timeout=20.0):
        """Block until predicate(messages) holds; return the messages, or raise after timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"mail condition not met in {timeout}s; received {len(self.messages)}")
                self._changed.wait(remaining)
            return list(self.messages)

    def to(self, address):
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.recipients)]


def print_mail(received):
    line = "-" * 72
    print(f"{line}\nMail to {', '.join(received.recipients)} from {received.sender}\n"
          f"Subject: {received.subject}\n\n{received.text.strip()}\n{line}", flush=True)


def serve(host, port, echo=False):
    handler = SinkHandler(echo=echo)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    return controller, handler


def main():
    parser = argparse.ArgumentParser(description="Print every mail sent to this SMTP server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    args = parser.parse_args()
    controller, _ = serve(args.host, args.port, echo=True)
    print(f"mail sink listening on {args.host}:{args.port}; mails are printed here", flush=True)
    run_until_interrupted(controller)


def run_until_interrupted(controller):
    """Serve until Ctrl-C, then close the listening socket."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
