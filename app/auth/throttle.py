"""Budgets in Redis keyed by the account or address a form names, not by client IP.

Keyed by name, they work unchanged behind any proxy (the app sees the proxy's address) and treat an
unknown name like a known one, so they reveal nothing. Without Redis they allow: the captcha and the
code's own attempt budget in the database still hold.
"""
import hashlib

from redis.exceptions import RedisError

from app.extensions import get_redis


def _key(scope, name):
    return f"throttle:{scope}:{hashlib.sha256(name.strip().lower().encode()).hexdigest()}"


class Budget:
    """At most `limit` spends per name within `window` seconds of the first one."""

    def __init__(self, scope, limit, window):
        self.scope, self.limit, self.window = scope, limit, window

    def exhausted(self, name):
        try:
            return int(get_redis().get(_key(self.scope, name)) or 0) >= self.limit
        except RedisError:
            return False

    def spend(self, name):
        key = _key(self.scope, name)
        try:
            pipe = get_redis().pipeline()
            pipe.incr(key)
            pipe.expire(key, self.window, nx=True)
            pipe.execute()
        except RedisError:
            pass

    def take(self, name):
        """Spend one and say whether it was within the budget."""
        exhausted = self.exhausted(name)
        if not exhausted:
            self.spend(name)
        return not exhausted


LOGIN_FAILURES = Budget("login", limit=10, window=15 * 60)
CODE_TRIES = Budget("code", limit=10, window=60 * 60)  # on top of the attempts each code allows: new codes reset those
RESEND_MAILS = Budget("resend", limit=1, window=60)  # no flooding a mailbox through the forms
RESET_MAILS = Budget("reset", limit=1, window=60)
