"""The mail jobs: drain the outbox in batches over one SMTP connection, or send one row at its retry time.

The outbox (app/outbox.py) decides what may be sent and records every outcome; a repeated, late or
concurrent job sends nothing twice, because only the claim hands a row to a sender.
"""
import time
from collections import Counter

from app import emails, outbox
from jobs import smtp


def drain():
    """The coalesced wake-up: claim a batch of due rows and send them; returns {outcome: count}."""
    outbox.drain_started()
    rows = outbox.claim()
    if len(rows) == outbox.BATCH:
        outbox.wake()  # there may be more: another worker takes the next batch meanwhile
    return deliver(rows)


def send(outbox_id):
    """One row's precise wake-up (its next attempt after a temporary failure); returns what happened."""
    rows = outbox.claim(ids=[outbox_id])
    if not rows:
        return "skipped"  # sent, not due yet, or held by a live sender
    [outcome] = deliver(rows)
    return outcome


def deliver(rows):
    """Render every claimed row from its account's current state, then send them one after another.

    Rendering comes first so that committing outcomes (which expires the session) does not reload the
    accounts. Sent marks are committed together, outbox.COMMIT_SECONDS after the first of them: one
    write transaction per group instead of per mail, and a crash (SIGKILL) repeats only those mails.
    """
    users = outbox.users_of(rows)
    outcomes, ready = Counter(), []
    for row in rows:
        if row.attempts > outbox.max_attempts():
            # Only lease take-overs get here: the workers holding it died on every attempt.
            outcomes[outbox.record_failure(row, "the worker stopped during every attempt", permanent=True)] += 1
            continue
        try:
            ready.append((row, emails.message(row, users.get(row.user_id))))
        except emails.Cancelled as exc:
            outcomes[outbox.record_cancelled(row, str(exc))] += 1
        except Exception as exc:  # a broken template must not hold the rest of the batch
            outcomes[outbox.record_failure(row, smtp.describe(exc))] += 1
    deadline = time.monotonic() + outbox.send_budget_seconds()
    sent, first_sent_at = [], None
    try:
        for position, (row, message) in enumerate(ready):
            if time.monotonic() > deadline:  # a slow provider: give the rest back rather than outlive the lease
                outbox.release([row for row, _ in ready[position:]])
                outcomes["released"] += len(ready) - position
                break
            try:
                smtp.send_message(message)
            except Exception as exc:  # the job timeout included: every failure is recorded, none loses the mail
                outcomes[outbox.record_failure(row, smtp.describe(exc), permanent=smtp.is_permanent(exc))] += 1
                continue
            sent.append(row)
            outcomes["sent"] += 1
            first_sent_at = first_sent_at or time.monotonic()
            if time.monotonic() - first_sent_at >= outbox.COMMIT_SECONDS:
                outbox.record_sent(sent)
                sent, first_sent_at = [], None
    finally:
        outbox.record_sent(sent)
    return dict(outcomes)
