"""Recurring jobs: the stats job over one million events, and a ~200 MB backup taken while people sign up."""
import importlib
import os
import random
import sqlite3
import threading
import time
from datetime import date, datetime, timedelta

from bench.register import sign_ups, solver
from bench.report import median
from bench.stack import Stack
from tests.services import wait_until

EVENTS = 1_000_000
KINDS = (("registered", 10), ("mail_sent", 10), ("verified", 6), ("login_ok", 30), ("login_failed", 10),
         ("captcha_failed", 4), ("logout", 30))
DETAIL = "x" * 120  # sized so that a million events make a database of about 200 MB
STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime in SQLite


def seed(path, day, events):
    """Users and events for one day, written with executemany in one transaction: seconds, not minutes."""
    rng = random.Random(6)
    start = datetime.combine(day, datetime.min.time())
    kinds = [kind for kind, weight in KINDS for _ in range(weight)]
    registrations = events * 10 // 100
    users, rows = [], []
    for i in range(1, registrations + 1):
        created = start + timedelta(seconds=rng.uniform(0, 86399))
        verified = created + timedelta(seconds=rng.uniform(30, 7200)) if rng.random() < 0.6 else None
        users.append((i, f"user{i}", f"user{i}@bench.test", "argon2-placeholder", 0, created.strftime(STAMP),
                      verified and verified.strftime(STAMP), 0, f"bench-session-{i}"))
        rows.append(("registered", i, created.strftime(STAMP), DETAIL))
    while len(rows) < events:
        kind = rng.choice(kinds)
        if kind != "registered":
            at = start + timedelta(seconds=rng.uniform(0, 86399))
            rows.append((kind, rng.randint(1, registrations), at.strftime(STAMP), DETAIL))
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany("INSERT INTO user (id, username, email, password_hash, is_admin, created_at, "
                               "verified_at, verify_code_attempts, session_token) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", users)
        connection.executemany("INSERT INTO event (kind, user_id, created_at, detail) VALUES (?, ?, ?, ?)", rows)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return registrations


def prepared_stack(table, name):
    """A fresh stack, or None (and a "not available" row) while jobs/<name>.py is missing."""
    try:
        importlib.import_module(f"jobs.{name}")
    except ImportError:
        table.missing(name, f"jobs.{name}", f"not available (jobs/{name}.py missing)")
        return None
    return Stack()


def run_stats(table, runs, quick):
    stack = prepared_stack(table, "stats")
    if stack is None:
        return
    events = EVENTS // 10 if quick else EVENTS
    day = date.today() - timedelta(days=1)
    with stack:
        stack.use_in_driver()
        started = time.perf_counter()
        registrations = seed(stack.env["DATABASE_URL"].removeprefix("sqlite:///"), day, events)
        table.add("stats", f"seeding {events:,} events with executemany: s", time.perf_counter() - started, "{:.1f}")
        from app import create_app
        from jobs.stats import record_day
        app = create_app()
        figures = []
        for _ in range(runs):
            with app.app_context():
                started = time.perf_counter()
                result = record_day(day.isoformat())
                figures.append(time.perf_counter() - started)
            if result["registrations"] != registrations:
                raise RuntimeError(f"stats counted {result['registrations']} registrations, seeded {registrations}")
    table.add("stats", f"jobs.stats.record_day over {events:,} events in one day: s", median(figures), "{:.2f}")


def run_backup(table, runs, quick):
    stack = prepared_stack(table, "backup")
    if stack is None:
        return
    events = EVENTS // 10 if quick else EVENTS
    seconds = 3 if quick else 8
    with stack:
        stack.use_in_driver()
        database = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
        seed(database, date.today() - timedelta(days=1), events)
        size = os.path.getsize(database) / 2**20
        base_url = stack.web()
        stack.start("worker")
        stack.start("worker-bulk")  # the backup runs on the maintenance queue
        solve = solver()
        from app import create_app
        from app.queues import get_queue
        app = create_app()
        durations, completed, during, baseline = [], [], [], []
        for _ in range(runs):
            quiet = threading.Event()
            threading.Timer(seconds, quiet.set).start()
            baseline.append(len(sign_ups(base_url, solve, 4, until=quiet)[1]) / seconds)
            busy = threading.Event()
            with app.app_context():
                job = get_queue("maintenance").enqueue("jobs.backup.run", job_timeout=600)
            watcher = threading.Thread(target=lambda: (wait_until(
                lambda: job.get_status(refresh=True) in ("finished", "failed"), timeout=600, interval=0.1),
                busy.set()))
            watcher.start()
            finished = sign_ups(base_url, solve, 4, until=busy)[1]
            watcher.join()
            job.refresh()
            if job.get_status() != "finished":
                raise RuntimeError(f"the backup job failed: {job.latest_result().exc_string}")
            began, ended = job.started_at.timestamp(), job.ended_at.timestamp()
            durations.append(ended - began)
            completed.append(sum(began <= at <= ended for at in finished))
            during.append(completed[-1] / (ended - began))
    table.add("backup", f"jobs.backup.run of a {size:.0f} MB SQLite database (via the worker): s",
              median(durations), "{:.1f}")
    table.add("backup", "sign-ups completed during the backup (4 clients)", median(completed), "{:.0f}")
    table.add("backup", "sign-ups/s during the backup vs without it", (median(during), median(baseline)),
              "{:.1f} vs {:.1f}")
