"""The recurring jobs, declared once: names, schedules, stable ids and DST-correct next runs.

The scheduler process (jobs/scheduler.py) keeps them in rq-scheduler; `flask jobs run NAME` runs one now.
"""
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from crontab import CronTab
from rq_scheduler import Scheduler

from app.queues import get_queue

ID_PREFIX = "schedule-"
# Part of every id: bump it when what sync() registers under an id changes (as when the dispatcher hop
# went), so the next sync cancels every registration made the old way and registers it anew.
REGISTRATION = 2


@dataclass(frozen=True)
class Entry:
    name: str
    func: str  # dotted path, so declaring the schedule imports no job code
    queue: str = "default"
    cron: str | None = None  # read in TIMEZONE
    interval: int | None = None  # seconds
    args: tuple = ()
    timeout: int = 600

    def job_id(self, zone):
        """Stable across restarts, new whenever the definition (or the zone of its cron) changes."""
        definition = repr((self.func, self.queue, self.cron, self.interval, self.args, self.timeout, zone,
                           REGISTRATION))
        return f"{ID_PREFIX}{self.name}-{hashlib.sha1(definition.encode()).hexdigest()[:8]}"

    def describe(self):
        return f"cron {self.cron}" if self.cron else f"every {self.interval}s"

    def enqueue_now(self):
        """`jobs run NAME`: the same function, queue and timeout as on schedule, under a fresh id."""
        return get_queue(self.queue).enqueue(self.func, *self.args, job_timeout=self.timeout,
                                             description=f"{self.name}: {self.func}{self.args!r}")


def declared(config):
    """The schedule, in the spirit of CELERYBEAT_SCHEDULE; `jobs run NAME` takes the same names."""
    return [
        Entry("stats", "jobs.stats.record_day", cron="10 0 * * *", args=("yesterday",), timeout=600),
        Entry("stats-today", "jobs.stats.record_day", cron="5 * * * *", args=("today",), timeout=600),
        Entry("backup", "jobs.backup.run", queue="maintenance", cron="30 3 * * *", timeout=3600),
        Entry("cleanup", "jobs.cleanup.run", queue="maintenance", cron="45 3 * * *", timeout=1800),
        Entry("outbox-redrive", "jobs.mail.redrive", queue="mail", interval=config["OUTBOX_SWEEP_SECONDS"],
              timeout=120),
        Entry("avatar-redrive", "jobs.avatar.redrive", queue="maintenance", interval=300, timeout=120),
    ]


def retired(job, config):
    """A registration of an earlier release (our prefix, an id no longer declared) whose function this
    release no longer has: its copy queued before the upgrade has nothing to run."""
    if not job.id.startswith(ID_PREFIX) or job.id in {entry.job_id(config["TIMEZONE"]) for entry in declared(config)}:
        return False
    try:
        job.func
    except (ImportError, AttributeError, ValueError):
        return True
    return False


def by_name(config):
    return {entry.name: entry for entry in declared(config)}


def upcoming(config, connection, now=None):
    """(entry, next run in TIMEZONE, registered in Redis?) for each declared job: `schedule list` and /admin/jobs.

    The next run is the scheduler's own when Redis has the job, else what its schedule says (an interval
    job not registered yet would run as soon as the scheduler starts). May raise RedisError.
    """
    zone = config["TIMEZONE"]
    now = now or datetime.now(timezone.utc)
    times = {job.id: at for job, at in Scheduler(connection=connection).get_jobs(with_times=True)}
    rows = []
    for entry in declared(config):
        at = times.get(entry.job_id(zone))
        if at is not None:
            next_run = at.replace(tzinfo=timezone.utc)  # rq-scheduler hands out naive UTC times
        else:
            next_run = next_cron(entry.cron, zone, now) if entry.cron else now
        rows.append((entry, next_run.astimezone(ZoneInfo(zone)), at is not None))
    return rows


def next_cron(cron, zone, after):
    """The first time (in UTC) after `after` that the cron matches in `zone`, keeping local time across DST.

    A repeated hour (autumn) runs once, in its first pass; a skipped hour's times (spring) run just
    after the change. rq-scheduler computes its next runs in the process's local zone and maps skipped
    times an hour back, into the past (an hourly job would then fire on every pass for that hour), so
    the scheduler replaces its result with this one.
    """
    tz = ZoneInfo(zone)
    local = after.astimezone(tz).replace(tzinfo=None)
    tab = CronTab(cron)
    while True:
        local = tab.next(now=local, return_datetime=True, default_utc=False)
        candidate = local.replace(tzinfo=tz).astimezone(timezone.utc)  # fold=0; UTC compares plainly
        if candidate > after:
            return candidate
