"""Captcha answers in Redis under a random id: short-lived, and gone the first time they are checked."""
import secrets

from flask import current_app

from app.captcha.image import random_text
from app.extensions import get_redis
from app.metrics import counters

TEST_MODE_WORD = "PASSED"


def _key(challenge_id):
    return f"captcha:{challenge_id}"


def new_challenge():
    """Store a fresh answer and return its id; raises RedisError when Redis is unavailable."""
    challenge_id = secrets.token_urlsafe(16)
    get_redis().set(_key(challenge_id), random_text(), ex=current_app.config["CAPTCHA_TTL_SECONDS"])
    counters.CAPTCHA_SERVED.inc()
    return challenge_id


def answer(challenge_id):
    """The text to draw, or None for an unknown or expired id; reading does not consume it."""
    value = get_redis().get(_key(challenge_id))
    return value.decode() if value is not None else None


def discard(challenge_id):
    get_redis().delete(_key(challenge_id))


def check(challenge_id, attempt):
    """True when attempt matches; the answer is deleted whatever the outcome, so each id is good for one try."""
    expected = get_redis().getdel(_key(challenge_id)) if challenge_id else None
    attempt = (attempt or "").strip().upper()
    if current_app.config["CAPTCHA_TEST_MODE"] and attempt == TEST_MODE_WORD:
        return True
    return expected is not None and secrets.compare_digest(attempt.encode(), expected)
