"""The schedule: declared once, synced idempotently, DST-safe next runs, one run per due time, and a
scheduler process that survives restarts, a second copy, a flushed Redis and a Redis outage."""
import os
import re
import time
from dataclasses import replace
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq_scheduler import Scheduler
from sqlalchemy import create_engine, text

from app.extensions import db, get_redis
from app.models import User
from app.queues import QUEUES, SCHEDULER_HEARTBEAT_KEY
from jobs import schedule
from jobs.scheduler import AppScheduler, sync
from tests.services import Process, RedisServer, flask_cli, wait_until

# rq-scheduler's crontab warning, silenced in the scheduler process (asserted below); pytest resets filters.
pytestmark = pytest.mark.filterwarnings("ignore:Version 0.22.0:FutureWarning")

NAMES = ["stats", "stats-today", "backup", "cleanup", "outbox-redrive", "avatar-redrive"]


def at(iso):
    return datetime.fromisoformat(iso).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("cron, zone, now, expected", [
    ("10 0 * * *", "UTC", "2026-11-26T19:00", "2026-11-27T00:10"),
    ("10 0 * * *", "UTC", "2026-11-27T00:10", "2026-11-28T00:10"),  # strictly after now
    ("10 0 * * *", "Asia/Shanghai", "2026-11-26T15:00", "2026-11-26T16:10"),  # 00:10 CST is 16:10 UTC
    ("10 0 * * *", "Asia/Shanghai", "2026-11-26T16:10", "2026-11-27T16:10"),
    ("5 * * * *", "Asia/Shanghai", "2026-11-26T19:30", "2026-11-26T20:05"),
    # Europe/Paris springs forward on 2027-03-28 at 02:00 CET (01:00 UTC) to 03:00 CEST.
    ("10 0 * * *", "Europe/Paris", "2027-03-27T12:00", "2027-03-27T23:10"),  # 00:10 CET
    ("10 0 * * *", "Europe/Paris", "2027-03-27T23:10", "2027-03-28T22:10"),  # 00:10 CEST: local time kept
    ("30 2 * * *", "Europe/Paris", "2027-03-27T12:00", "2027-03-28T01:30"),  # no 02:30 that day: 03:30 CEST
    ("5 * * * *", "Europe/Paris", "2027-03-28T00:05", "2027-03-28T01:05"),  # 01:05 CET, then 03:05 CEST
    # ... and falls back on 2027-10-31 at 03:00 CEST (01:00 UTC) to 02:00 CET.
    ("30 2 * * *", "Europe/Paris", "2027-10-30T12:00", "2027-10-31T00:30"),  # the first 02:30
    ("30 2 * * *", "Europe/Paris", "2027-10-31T00:30", "2027-11-01T01:30"),  # not again in the repeated hour
    ("5 * * * *", "Europe/Paris", "2027-10-31T01:06", "2027-10-31T02:05"),  # never a time in the past
])
def test_next_cron_runs_in_the_configured_zone_across_dst(cron, zone, now, expected):
    assert schedule.next_cron(cron, zone, at(now)) == at(expected)


def registered(connection):
    return [member.decode() for member in connection.zrange(Scheduler.scheduled_jobs_key, 0, -1)]


def names_registered(connection):
    return sorted(job_id[len(schedule.ID_PREFIX):].rsplit("-", 1)[0] for job_id in registered(connection))


def test_sync_is_idempotent_and_replaces_changed_or_removed_jobs(app):
    with app.app_context():
        connection = get_redis()
        scheduler = Scheduler(connection=connection)
        entries = schedule.declared(app.config)
        sync(scheduler, entries, "UTC")
        first = sorted(registered(connection))
        sync(scheduler, entries, "UTC")
        assert sorted(registered(connection)) == first
        assert len(first) == len(NAMES)

        changed = [replace(e, interval=120) if e.name == "outbox-redrive" else e for e in entries]
        sync(scheduler, changed, "UTC")
        redrive = NAMES.index("outbox-redrive")
        old, new = entries[redrive].job_id("UTC"), changed[redrive].job_id("UTC")
        assert old != new
        assert new in registered(connection)
        assert old not in registered(connection)
        assert not connection.exists(f"rq:job:{old}")

        sync(scheduler, changed[1:], "UTC")  # "stats" no longer declared
        assert names_registered(connection) == sorted(NAMES[1:])
        sync(scheduler, changed, "Asia/Shanghai")  # another zone is another definition
        assert len(registered(connection)) == len(NAMES)


def make_all_due(connection):
    connection.zadd(Scheduler.scheduled_jobs_key, {job_id: time.time() - 120 for job_id in registered(connection)})


def runs(connection):
    """How often each registered job has run, by name (rq keeps one result per run)."""
    counts = {}
    for job_id in registered(connection):
        job = Job.fetch(job_id, connection=connection)
        counts[job_id[len(schedule.ID_PREFIX):].rsplit("-", 1)[0]] = len(job.results())
    return counts


def test_without_a_worker_due_jobs_wait_once_and_each_runs_once_when_one_starts(app, run_jobs):
    with app.app_context():
        connection = get_redis()
        scheduler = AppScheduler(connection=connection, entries=schedule.declared(app.config), zone="UTC")
        scheduler.enqueue_jobs()  # the first pass syncs
        for _ in range(3):  # three due times pass with no worker
            make_all_due(connection)
            scheduler.enqueue_jobs()
        queued = [job_id for name in QUEUES for job_id in Queue(name, connection=connection).get_job_ids()]
        assert sorted(queued) == sorted(registered(connection))  # one waiting copy each, no pile
        run_jobs()
        assert runs(connection) == {name: 1 for name in NAMES}
        assert all(FailedJobRegistry(name, connection=connection).count == 0 for name in QUEUES)
        assert len(registered(connection)) == len(NAMES)  # and all rescheduled, in the future
        assert all(score > time.time() for _, score in
                   connection.zrange(Scheduler.scheduled_jobs_key, 0, -1, withscores=True))


def test_a_due_time_pushed_twice_runs_once(app, run_jobs):
    """Two passes that find one due time (its push still waiting for a worker) push it once."""
    with app.app_context():
        connection = get_redis()
        scheduler = AppScheduler(connection=connection, entries=schedule.declared(app.config), zone="UTC")
        sync(scheduler, scheduler.entries, "UTC")
        job = next(j for j in scheduler.get_jobs() if j.id.startswith(f"{schedule.ID_PREFIX}stats-today"))
        scheduler.enqueue_job(job)
        scheduler.enqueue_job(job)
        assert Queue("default", connection=connection).get_job_ids() == [job.id]
        run_jobs()
        assert runs(connection)["stats-today"] == 1
        assert job.get_status() == JobStatus.FINISHED


# An upgrade: the same names under new definitions, so new ids (the release that changed REGISTRATION,
# or moved jobs.outbox.redrive to jobs.mail.redrive, was one).

def older_release(entries):
    return [replace(entry, timeout=entry.timeout + 1) for entry in entries]


def test_an_upgrade_lets_the_run_already_queued_under_the_old_id_go_ahead_once(app, run_jobs):
    with app.app_context():
        connection = get_redis()
        new = schedule.declared(app.config)
        old_scheduler = AppScheduler(connection=connection, entries=older_release(new), zone="UTC")
        old_scheduler.enqueue_jobs()  # the old release registers (and pushes its interval jobs)
        make_all_due(connection)
        old_scheduler.enqueue_jobs()  # ... and pushes every due job; no worker runs during the deploy
        old_ids = set(registered(connection))
        sync(AppScheduler(connection=connection, entries=new, zone="UTC"), new, "UTC")  # the new release starts
        assert set(registered(connection)) == {entry.job_id("UTC") for entry in new}
        run_jobs()
        counts = {job_id: len(Job.fetch(job_id, connection=connection).results()) for job_id in old_ids}
        assert counts == {job_id: 1 for job_id in old_ids}
        assert all(0 < connection.ttl(f"rq:job:{job_id}") <= 86400 for job_id in old_ids)  # then they expire


def test_a_cron_run_due_but_not_pushed_before_the_upgrade_runs_under_the_new_id(app, run_jobs):
    with app.app_context():
        connection = get_redis()
        new = schedule.declared(app.config)
        sync(Scheduler(connection=connection), older_release(new), "UTC")
        make_all_due(connection)  # 03:30 has come; the old scheduler stopped before pushing the backup
        scheduler = AppScheduler(connection=connection, entries=new, zone="UTC")
        scheduler.enqueue_jobs()
        run_jobs()
        assert runs(connection) == {name: 1 for name in NAMES}


def test_a_queued_job_whose_function_an_upgrade_removed_is_cancelled_not_failed(app, run_jobs):
    with app.app_context():
        connection = get_redis()
        gone = [schedule.Entry("outbox-redrive", "jobs.outbox.redrive", queue="mail", interval=60)]
        AppScheduler(connection=connection, entries=gone, zone="UTC").enqueue_jobs()  # registered and pushed
        old_id = gone[0].job_id("UTC")
        assert Queue("mail", connection=connection).get_job_ids() == [old_id]
        run_jobs()  # the new release's worker starts before its scheduler
        assert FailedJobRegistry("mail", connection=connection).count == 0
        assert Job.fetch(old_id, connection=connection).get_status() == JobStatus.CANCELED


def test_jobs_run_enqueues_now_and_says_no_worker_is_running(app, run_jobs):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "run", "stats"])
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert "no worker is running" in result.stderr
    run_jobs()
    with app.app_context():
        assert FinishedJobRegistry("default", connection=get_redis()).get_job_ids() == [job_id]


def test_jobs_run_with_an_unknown_name_lists_the_names_and_exits_2(app):
    result = app.test_cli_runner().invoke(args=["jobs", "run", "backups"])
    assert result.exit_code == 2
    assert all(name in result.output for name in NAMES)
    assert "Traceback" not in result.output


def test_schedule_list_shows_zone_next_run_and_registration(make_app):
    app = make_app(TIMEZONE="Asia/Shanghai")
    output = app.test_cli_runner().invoke(args=["schedule", "list"]).stdout
    stats_line = next(line for line in output.splitlines() if line.startswith("stats "))
    expected = schedule.next_cron("10 0 * * *", "Asia/Shanghai", datetime.now(timezone.utc)).astimezone(
        ZoneInfo("Asia/Shanghai"))
    assert stats_line.split() == ["stats", "cron", "10", "0", "*", "*", "*", "Asia/Shanghai",
                                  f"{expected:%Y-%m-%d}", "00:10:00", "CST", "no"]
    with app.app_context():
        sync(Scheduler(connection=get_redis()), schedule.declared(app.config), "Asia/Shanghai")
    output = app.test_cli_runner().invoke(args=["schedule", "list"]).stdout
    assert [line.split()[-1] for line in output.splitlines()[1:]] == ["yes"] * len(NAMES)


def start(name, env, tmp_path):
    return Process(name, env, str(tmp_path)).start()


def live_schedulers(connection, since):
    births = [connection.hgetall(key) for key in connection.scan_iter("rq:scheduler_instance:*")]
    return [b for b in births if b.get(b"death") is None and float(b[b"birth"]) >= since]


@pytest.mark.processes
@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai"])
def test_the_scheduler_process_registers_cron_times_in_its_zone(app, app_env, redis_server, tmp_path, zone):
    connection = Redis.from_url(redis_server.url)
    before = datetime.now(timezone.utc)
    scheduler = start("scheduler", {**app_env, "TIMEZONE": zone}, tmp_path)
    try:
        wait_until(lambda: len(registered(connection)) == len(NAMES), message="schedule registered")
        after = datetime.now(timezone.utc)
        beat = connection.get(SCHEDULER_HEARTBEAT_KEY)
        assert int(before.timestamp()) <= int(beat) <= time.time()  # written by this scheduler
        assert 0 < connection.ttl(SCHEDULER_HEARTBEAT_KEY) <= 30
        with app.app_context():
            for entry in schedule.declared(app.config):
                if not entry.cron:
                    continue
                score = connection.zscore(Scheduler.scheduled_jobs_key, entry.job_id(zone))
                assert score in {schedule.next_cron(entry.cron, zone, t).timestamp() for t in (before, after)}
    finally:
        scheduler.stop()
    assert scheduler.process.returncode == 0
    assert "Traceback" not in scheduler.log()
    assert "FutureWarning" not in scheduler.log()


def redrive_dues(scheduler):
    """The due times for which the scheduler processes (they share one log) enqueued the outbox redrive."""
    return re.findall(r"enqueued schedule-outbox-redrive-\w+ on mail, due (\S+)", scheduler.log())


@pytest.mark.processes
def test_restarts_and_a_second_scheduler_never_register_or_enqueue_twice(app_env, redis_server, tmp_path):
    connection = Redis.from_url(redis_server.url)
    env = {**app_env, "OUTBOX_SWEEP_SECONDS": "2"}
    assert Process("release", env, str(tmp_path)).run() == 0
    worker = start("worker", env, tmp_path)
    second = start("scheduler", env, tmp_path)
    first = None
    try:
        for _ in range(3):
            since = time.time()
            first = start("scheduler", env, tmp_path)
            wait_until(lambda: live_schedulers(connection, since), timeout=30, message="scheduler restarted")
            pushed = len(redrive_dues(second))
            wait_until(lambda: len(redrive_dues(second)) > pushed, timeout=30,
                       message="a redrive pushed while both schedulers run")
            assert names_registered(connection) == sorted(NAMES)
            first.stop()
        for name in QUEUES:  # never a piled-up copy
            ids = Queue(name, connection=connection).get_job_ids()
            assert len(ids) == len(set(ids))
        dues = sorted(datetime.strptime(due, "%Y-%m-%dT%H:%M:%SZ").timestamp() for due in redrive_dues(second))
        assert len(dues) >= 3  # one or more per round
        assert min(b - a for a, b in zip(dues, dues[1:])) >= 2  # each due time pushed once, by one scheduler
        redrive = next(job_id for job_id in registered(connection) if "outbox-redrive" in job_id)
        assert Job.fetch(redrive, connection=connection).results()  # and the worker ran it
        assert FailedJobRegistry("mail", connection=connection).count == 0
    finally:
        for process in (first, second, worker):
            if process:
                process.stop()
    assert "Traceback" not in second.log() + first.log()


@pytest.mark.processes
def test_a_flushed_redis_is_noticed_and_synced_again(app_env, redis_server, tmp_path):
    connection = Redis.from_url(redis_server.url)
    scheduler = start("scheduler", app_env, tmp_path)
    try:
        wait_until(lambda: len(registered(connection)) == len(NAMES), message="schedule registered")
        connection.flushdb()
        wait_until(lambda: len(registered(connection)) == len(NAMES), timeout=60, message="schedule re-synced")
        wait_until(lambda: connection.exists(SCHEDULER_HEARTBEAT_KEY), timeout=15, message="heartbeat back")
    finally:
        scheduler.stop()


@pytest.mark.processes
def test_the_scheduler_rides_out_a_redis_outage(app_env, tmp_path):
    redis = RedisServer().start()
    try:
        connection = Redis.from_url(redis.url)
        scheduler = start("scheduler", {**app_env, "REDIS_URL": redis.url}, tmp_path)
        wait_until(lambda: len(registered(connection)) == len(NAMES), message="schedule registered")
        redis.stop()
        wait_until(lambda: "redis unavailable" in scheduler.log(), timeout=20, message="outage noticed")
        assert scheduler.process.poll() is None
        redis.restart_empty()  # back, without the schedule
        wait_until(lambda: len(registered(connection)) == len(NAMES), timeout=60, message="re-synced after outage")
        redis.stop()  # and stopping during an outage still exits cleanly
        scheduler.stop()
        assert scheduler.process.returncode == 0
        assert "Traceback" not in scheduler.log()
    finally:
        redis.cleanup()


@pytest.mark.processes
def test_operator_runs_every_job_with_the_procfile_processes(make_app, app_env, redis_server, tmp_path,
                                                             new_database):
    app = make_app()
    with app.app_context():
        for i in range(3):
            db.session.add(User(username=f"op{i}", email=f"op{i}@example.test", password_hash="x"))
        db.session.commit()
    connection = Redis.from_url(redis_server.url)
    assert Process("release", app_env, str(tmp_path)).run() == 0
    worker, bulk = start("worker", app_env, tmp_path), start("worker-bulk", app_env, tmp_path)
    scheduler = None
    try:
        for _ in range(3):
            since = time.time()
            scheduler = start("scheduler", app_env, tmp_path)
            wait_until(lambda: live_schedulers(connection, since), timeout=30, message="scheduler started")
            wait_until(lambda: len(registered(connection)) == len(NAMES), message="schedule registered")
            scheduler.stop()
        scheduler = start("scheduler", app_env, tmp_path)
        assert names_registered(connection) == sorted(NAMES)

        result = flask_cli("jobs", "run", "backup", "--wait", env=app_env)
        assert result.returncode == 0, result.stdout + result.stderr
        backups = os.listdir(app_env["BACKUP_DIR"])
        assert len(backups) == 1
        path = os.path.join(app_env["BACKUP_DIR"], backups[0])
        assert result.stdout.strip().endswith(repr(path))
        fresh = {**app_env, "DATABASE_URL": new_database("restored")}
        restored = flask_cli("backup", "restore", "--yes", path, env=fresh)
        assert restored.returncode == 0, restored.stderr
        engine = create_engine(fresh["DATABASE_URL"])
        with engine.connect() as copy:
            assert list(copy.scalars(text('SELECT username FROM "user" ORDER BY id'))) == ["op0", "op1", "op2"]
        engine.dispose()

        for name in ("stats", "stats-today", "cleanup", "outbox-redrive", "avatar-redrive"):
            result = flask_cli("jobs", "run", name, "--wait", env=app_env)
            assert result.returncode == 0, result.stdout + result.stderr
            assert ": finished: " in result.stdout
        assert all(FailedJobRegistry(name, connection=connection).count == 0 for name in QUEUES)
    finally:
        if scheduler:
            scheduler.stop()
        worker.stop()
        bulk.stop()
    assert "Traceback" not in worker.log() + scheduler.log()


@pytest.mark.processes
def test_jobs_run_wait_reports_a_failed_job_and_exits_non_zero(app_env, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the backup directory should be")
    env = {**app_env, "BACKUP_DIR": str(blocker)}  # the backup job cannot write anywhere
    assert Process("release", env, str(tmp_path)).run() == 0
    worker = start("worker-bulk", env, tmp_path)
    try:
        wait_until(lambda: Worker.count(connection=Redis.from_url(env["REDIS_URL"])), message="worker up")
        result = flask_cli("jobs", "run", "backup", "--wait", "--timeout", "60", env=env)
    finally:
        worker.stop()
    assert result.returncode == 1
    assert ": failed: " in result.stderr
    assert "not-a-directory" in result.stderr
    assert "no worker" not in result.stderr
    assert "Traceback" not in result.stderr
