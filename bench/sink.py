"""The bench's SMTP sink, run as its own process: records each mail's recipient and arrival time in Redis.

A separate process rather than devtools.mailsink.serve() in the driver: in-process, the sink's asyncio
thread would share the driver's GIL, so the driver's own work would delay arrivals and skew latencies.
On 2 cores it still shares the CPUs with the workers, equally for every contender.
"""
import argparse
import asyncio
import time

from aiosmtpd.controller import Controller
from redis import Redis

from devtools.mailsink import SinkHandler, run_until_interrupted

ARRIVALS = "bench:arrivals"


class RecordingHandler(SinkHandler):
    """Skips parsing: the recipient identifies the mail and the timestamp is taken on arrival."""

    def __init__(self, redis, delay):
        super().__init__()
        self.redis = redis
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        arrived = time.time()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.redis.rpush(ARRIVALS, f"{envelope.rcpt_tos[0]} {arrived:.6f}")
        return "250 Message accepted for delivery"


def arrivals(redis):
    """{recipient: arrival time} of every mail received so far."""
    pairs = (item.decode().split() for item in redis.lrange(ARRIVALS, 0, -1))
    return {rcpt: float(at) for rcpt, at in pairs}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before answering DATA")
    args = parser.parse_args()
    controller = Controller(RecordingHandler(Redis.from_url(args.redis), args.delay), hostname="127.0.0.1",
                            port=args.port)
    controller.start()
    run_until_interrupted(controller)


if __name__ == "__main__":
    main()
