"""`flask jobs ...` and `flask schedule ...`: run declared jobs now, and run the scheduler."""
import click
from flask import current_app
from flask.cli import AppGroup
from redis import Redis
from rq_scheduler import Scheduler

from jobs import schedule

jobs_cli = AppGroup("jobs", help="Run declared jobs.")
schedule_cli = AppGroup("schedule", help="Show and run the recurring schedule.")


@schedule_cli.command("run")
def schedule_run():
    """Sync the declared schedule into Redis, then run the rq-scheduler loop."""
    connection = Redis.from_url(current_app.config["REDIS_URL"])
    scheduler = Scheduler(connection=connection, interval=5)
    schedule.sync(scheduler)
    click.echo("schedule synced; scheduler running")
    scheduler.run()
