"""Redrive: wake a drain for outbox rows whose wake-up was lost (Redis wiped, enqueue failed, worker killed)."""
from flask import current_app

from app import outbox


def redrive(grace_seconds=None):
    """Wake a drain when rows have been due for longer than the grace (one sweep by default); returns how many.

    The grace leaves the wake-up queued at sign-up or after a failure time to run first; one drain is
    queued however many rows are due and however many sweeps find them before a worker runs.
    """
    grace = current_app.config["OUTBOX_SWEEP_SECONDS"] if grace_seconds is None else grace_seconds
    return outbox.redrive(grace)
