"""`flask jobs run NAME` and `flask schedule list | run`: the declared jobs, by hand and on schedule."""
import logging
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup, ScriptInfo
from redis.exceptions import RedisError
from rq import Worker
from rq.job import JobStatus

from app import LOG_FORMAT
from app.extensions import get_redis, redis_client
from app.queues import QUEUES, get_queue
from jobs import schedule, scheduler

jobs_cli = AppGroup("jobs", help="Run declared jobs now.")
schedule_cli = AppGroup("schedule", help="Show and run the recurring schedule.")


class DeclaredName(click.Choice):
    """The declared names, read when the command runs (they come from the app's configuration)."""

    def __init__(self):
        super().__init__([])

    def convert(self, value, param, ctx):
        # Arguments are parsed before the command's app context is pushed: ask Flask's ScriptInfo.
        self.choices = list(schedule.by_name(ctx.ensure_object(ScriptInfo).load_app().config))
        return super().convert(value, param, ctx)

    def get_metavar(self, param, ctx):
        return "NAME"


def warn_if_no_worker():
    """Jobs are never dropped without a worker, they wait: say so, as /healthz does."""
    redis = get_redis()
    if Worker.count(connection=redis) == 0:
        waiting = sum(get_queue(name, connection=redis).count for name in QUEUES)
        click.echo(f"warning: no worker is running; {waiting} job(s) waiting in the queues until one starts",
                   err=True)


@jobs_cli.command("run")
@click.argument("name", type=DeclaredName())
@click.option("--wait", is_flag=True, help="Wait for the job and print its outcome.")
@click.option("--timeout", type=int, default=None, help="Seconds to wait (default: the job's timeout).")
def jobs_run(name, wait, timeout):
    """Enqueue the declared job NAME now, on its usual queue; a worker runs it."""
    entry = schedule.by_name(current_app.config)[name]
    try:
        job = entry.enqueue_now()
        click.echo(job.id)
        warn_if_no_worker()
        status = wait_for(job, timeout or entry.timeout + 30) if wait else 0
    except RedisError as exc:
        raise click.ClickException(f"redis unavailable: {exc}") from None
    sys.exit(status)


def wait_for(job, timeout):
    """Poll until the job ends; the exit status says whether it succeeded."""
    deadline = time.monotonic() + timeout
    while (status := job.get_status()) not in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED,
                                                 JobStatus.CANCELED):
        if time.monotonic() > deadline:
            click.echo(f"{job.id}: still {status.value} after {timeout}s", err=True)
            return 1
        time.sleep(0.2)
    if status == JobStatus.FINISHED:
        click.echo(f"{job.id}: finished: {job.return_value()!r}")
        return 0
    result = job.latest_result()
    reason = result.exc_string.strip().splitlines()[-1] if result and result.exc_string else "no details"
    click.echo(f"{job.id}: {status.value}: {reason}", err=True)
    return 1


@schedule_cli.command("list")
def schedule_list():
    """Each declared job: schedule, timezone, next run in that timezone, and whether Redis has it."""
    zone = current_app.config["TIMEZONE"]
    try:
        upcoming = schedule.upcoming(current_app.config, get_redis())
    except RedisError as exc:
        raise click.ClickException(f"redis unavailable: {exc}") from None
    rows = [("NAME", "SCHEDULE", "TIMEZONE", "NEXT RUN", "REGISTERED")]
    for entry, next_run, registered in upcoming:
        rows.append((entry.name, entry.describe(), zone, f"{next_run:%Y-%m-%d %H:%M:%S %Z}",
                     "yes" if registered else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    warn_if_no_worker()


@schedule_cli.command("run")
def schedule_run():
    """Sync the declared schedule into Redis, then run the scheduler loop until stopped."""
    zone = current_app.config["TIMEZONE"]
    # A daemon's log is its only output: what it enqueued and when, in every environment.
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    click.echo(f"scheduler starting: {len(schedule.declared(current_app.config))} recurring jobs, "
               f"cron times in {zone}")
    try:
        # Patient: a Sentinel failover is retried, not a restart of the loop. Less so than the workers' connection,
        # since a stop signal during an outage waits for the stop handler's Redis calls (run_forever rides out more).
        connection = redis_client(current_app.config["REDIS_URL"], patience=scheduler.REDIS_PATIENCE)
        scheduler.run_forever(connection, schedule.declared(current_app.config), zone)
    except KeyboardInterrupt:
        pass
