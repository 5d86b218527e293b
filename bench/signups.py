"""Load section: sign-ups per second through the Procfile's own stack on PostgreSQL, against this machine's ceiling.

4 gunicorn sync workers (`web`, WEB_CONCURRENCY=4), the `worker` line's pool of 2 (WORKER_CONCURRENCY=2),
Redis, the recording SMTP sink (bench/sink.py) and a throw-away PostgreSQL (tests/postgres.py). The ceiling
is measured in the same run: argon2id hashing alone (every sign-up hashes once, so the cores divided by a
hash's time bound the rate) and a bare Flask-WTF page behind the same gunicorn settings (the cost of a
request that does nothing). CAPTCHA_TEST_MODE and RATELIMIT_ENABLED=false: the point is the path, not the
guards. Bounded: a fixed window of sign-ups, then at most a minute for the last mails to arrive.
"""
import os
import threading
import time

from bench.cpu import ms_per_call
from bench.load import requests_per_second
from bench.register import sign_ups
from bench.report import median, percentile
from bench.sink import arrivals
from bench.stack import Stack
from tests.postgres import PostgresServer
from tests.services import procfile_command, wait_until

WEB, WORKERS, CLIENTS = 4, 2, 8


def load(base_url, seconds):
    """CLIENTS browsers signing up for `seconds`: ({address: POST sent at}, POST milliseconds)."""
    until = threading.Event()
    stop = threading.Timer(seconds, until.set)
    stop.start()
    times, _finished, sent = sign_ups(base_url, lambda _id: "PASSED", CLIENTS, until=until)
    return sent, times


def run_load(table, runs, quick):
    from app.accounts import passwords

    seconds = 10 if quick else 30
    hash_ms = median(ms_per_call(lambda: passwords.hash_password("correct horse battery"), 10) for _ in range(runs))
    cores = len(os.sched_getaffinity(0))
    postgres = PostgresServer().start()
    try:
        stack = Stack(app_env="development")  # CAPTCHA_TEST_MODE on; RATELIMIT_ENABLED=false is the Stack's own
        stack.env.update(DATABASE_URL=postgres.create_database("load"), WEB_CONCURRENCY=str(WEB),
                         WORKER_CONCURRENCY=str(WORKERS), FLASK_DEBUG="0")
        with stack:
            base_url = stack.web()
            bare = stack.web(command=procfile_command("web").replace("wsgi:app", "bench.bare:app"))
            bare_rps = requests_per_second(bare, "/", 5, CLIENTS)
            stack.start("worker")
            started = time.time()
            sent, times = load(base_url, seconds)
            elapsed = time.time() - started
            wait_until(lambda: len(arrivals(stack.connection).keys() & sent.keys()) == len(sent),
                       timeout=60, message="every sign-up's mail at the sink")
            arrived = arrivals(stack.connection)
            delivery = [(arrived[address] - at) * 1000 for address, at in sent.items()]
    finally:
        postgres.cleanup()
    rate, ceiling = len(sent) / elapsed, cores * 1000 / hash_ms
    p50, p95 = percentile(times, 50), percentile(times, 95)
    name = f"{WEB} web, {WORKERS} workers, PostgreSQL, {CLIENTS} clients for {seconds} s"
    table.add("load", f"sign-ups/s ({name}; {len(sent)} sign-ups)", rate, "{:.1f}")
    table.add("load", f"ceiling: {cores} cores / argon2id hash ({hash_ms:.1f} ms): hashes/s", ceiling, "{:.1f}")
    table.add("load", "sign-ups/s / hashing ceiling", 100 * rate / ceiling, "{:.0f}%")
    table.add("load", f"bare Flask-WTF page, same gunicorn ({WEB} workers, {CLIENTS} clients): requests/s",
              bare_rps, "{:.0f}")
    table.add("load", "sign-ups/s / bare page requests/s", 100 * rate / bare_rps, "{:.1f}%")
    table.add("load", "POST /auth/register under load: p50 / p95 ms", (p50, p95), "{:.0f} / {:.0f}")
    table.add("load", "POST p50 / one argon2id hash", p50 / hash_ms, "{:.1f}x")
    table.add("load", "sign-up POST sent to its mail at the sink, under load: p50 / p95 ms",
              (percentile(delivery, 50), percentile(delivery, 95)), "{:.0f} / {:.0f}")
