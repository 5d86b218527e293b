"""The mail provider's limits, shared by every worker through Redis: MAIL_MAX_PER_SECOND and "slow down" pauses.

Every send asks the gate first, in one atomic script on Redis's own clock, so workers on several hosts
obey one rate and one pause. With a rate of N, sends start on a schedule 1/N s apart (a sender that came
late does not push the schedule back), and a one-second window never holds more than N of them: each send
counts from its grant until it ended (or, if its worker died, until 3 x MAIL_TIMEOUT). A token bucket could
not promise the second part: it lets a window hold N plus its burst, and the provider's acceptance lies
anywhere between our grant and the end of the send, so the window counts that whole span (with the
schedule alone, tests/test_sendrate.py's sink saw 51 mails in one second at a rate of 50).
"""
import logging
import secrets
import time

from flask import current_app
from redis.exceptions import RedisError

from app import outbox
from app.extensions import get_redis
from app.queues import MAIL_PAUSE_KEY

log = logging.getLogger(__name__)

SENDS, NEXT, PAUSE = "{mail-rate}:sends", "{mail-rate}:next", MAIL_PAUSE_KEY  # one hash slot
MIN_SLEEP = 0.001  # a waiting sender asks again no more often than this

# KEYS: sends (grant -> when its send ended, or its in-flight bound), next grant time, pause end.
# ARGV: sends per second (0: no rate, only the pause), in-flight bound (µs), grant id. Times in µs.
ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local paused = tonumber(redis.call('GET', KEYS[3]) or 0)
if paused > now then return {0, paused - now} end
local rate = tonumber(ARGV[1])
if rate <= 0 then return {1, 0} end
local next_at = tonumber(redis.call('GET', KEYS[2]) or 0)
if next_at > now then return {0, next_at - now} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1000000)
if redis.call('ZCARD', KEYS[1]) >= rate then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + 1000000 - now}
end
local bound = tonumber(ARGV[2])
local interval = math.ceil(1000000 / rate)
if now - next_at >= interval then next_at = now end  -- idle since: the schedule starts again from now
redis.call('ZADD', KEYS[1], string.format('%.0f', now + bound), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(bound / 1000) + 1000)
redis.call('SET', KEYS[2], string.format('%.0f', next_at + interval), 'PX', math.ceil(interval / 1000) + 1)
return {1, 0}
"""
DONE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
return redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', now), ARGV[1])
"""
# KEYS: pause end. ARGV: seconds (µs). A pause only ever grows: a shorter one asked later keeps the longer.
PAUSE_SCRIPT = """
local clock = redis.call('TIME')
local ends = tonumber(clock[1]) * 1000000 + tonumber(clock[2]) + tonumber(ARGV[1])
if ends > tonumber(redis.call('GET', KEYS[1]) or 0) then
  redis.call('SET', KEYS[1], string.format('%.0f', ends), 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 1)
end
return 1
"""


class Gate:
    """What every sender asks before a send; one per worker process, shared by its connections' threads."""

    def __init__(self, redis, per_second=0, in_flight_seconds=30, pause_seconds=10):
        self.per_second, self.pause_seconds = per_second, pause_seconds
        self.in_flight_us = int(in_flight_seconds * 1_000_000)
        self._acquire, self._done, self._pause = (redis.register_script(s) for s in (ACQUIRE, DONE, PAUSE_SCRIPT))

    def acquire(self):
        """(token, 0) when a send may start now, else (None, seconds until it may); raises RedisError."""
        token = secrets.token_hex(8) if self.per_second else ""
        granted, delay = self._acquire(keys=[SENDS, NEXT, PAUSE], args=[self.per_second, self.in_flight_us, token])
        return (token, 0) if granted else (None, delay / 1_000_000)

    def wait(self, deadline):
        """A token once the limits let a send start, sleeping the delays the gate reports; None at the deadline
        (time.monotonic()), so the caller gives the mail back instead of outliving its lease."""
        while time.monotonic() < deadline:
            token, delay = self.acquire()
            if token is not None:
                return token
            time.sleep(max(MIN_SLEEP, min(delay, deadline - time.monotonic())))
        return None

    def done(self, token):
        """The send ended (sent or not): from now on it counts for one second only. Never raises: a lost
        mark keeps the send counted until its in-flight bound, which only slows the next second down."""
        if not token:
            return
        try:
            self._done(keys=[SENDS], args=[token])
        except RedisError as exc:
            log.warning("could not mark a send done in the rate window: %s", exc)

    def pause(self, seconds):
        """Every worker's sends wait until `seconds` from now; never raises (the mail's own retry stands)."""
        try:
            self._pause(keys=[PAUSE], args=[int(seconds * 1_000_000)])
        except RedisError as exc:
            log.warning("could not pause the mail drain: %s", exc)

    def slow_down(self):
        """The provider said "slow down": the whole drain waits as long as that mail's first retry does."""
        log.warning("the mail provider asked us to slow down: every worker pauses %s s", self.pause_seconds)
        self.pause(self.pause_seconds)


def gate():
    """This worker's gate, from MAIL_MAX_PER_SECOND and MAIL_RETRY_INTERVALS; a send is bounded by the job timeout."""
    extensions = current_app.extensions
    if "mail_gate" not in extensions:
        config = current_app.config
        extensions["mail_gate"] = Gate(get_redis(), config["MAIL_MAX_PER_SECOND"], outbox.job_timeout(),
                                       config["MAIL_RETRY_INTERVALS"][0])
    return extensions["mail_gate"]
