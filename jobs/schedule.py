"""The recurring jobs, declared once, their idempotent sync into rq-scheduler, and the scheduler loop."""
import hashlib
import logging
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from crontab import CronTab
from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import DuplicateJobError
from rq_scheduler import Scheduler

from app.queues import get_queue

log = logging.getLogger(__name__)

ID_PREFIX = "schedule-"
HEARTBEAT_KEY = "signup:scheduler:heartbeat"
INTERVAL = 5  # seconds between scheduler passes: a due job waits at most this long
HEARTBEAT_TTL = 6 * INTERVAL
RESULT_TTL = 86400  # a run's id must outlive any late copy of its dispatcher, so a due time runs once

# rq-scheduler calls CronTab.next() without default_utc, which warns on every cron job, every time.
warnings.filterwarnings("ignore", message=r"Version 0\.22\.0\+ of crontab", category=FutureWarning)


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
        definition = repr((self.func, self.queue, self.cron, self.interval, self.args, self.timeout, zone))
        return f"{ID_PREFIX}{self.name}-{hashlib.sha1(definition.encode()).hexdigest()[:8]}"

    def describe(self):
        return f"cron {self.cron}" if self.cron else f"every {self.interval}s"


def declared(config):
    """The schedule, in the spirit of CELERYBEAT_SCHEDULE; `jobs run NAME` takes the same names."""
    return [
        Entry("stats", "jobs.stats.record_day", cron="10 0 * * *", args=("yesterday",), timeout=600),
        Entry("stats-today", "jobs.stats.record_day", cron="5 * * * *", args=("today",), timeout=600),
        Entry("backup", "jobs.backup.run", queue="maintenance", cron="30 3 * * *", timeout=3600),
        Entry("cleanup", "jobs.cleanup.run", queue="maintenance", cron="45 3 * * *", timeout=1800),
        Entry("outbox-redrive", "jobs.outbox.redrive", queue="mail", interval=config["OUTBOX_SWEEP_SECONDS"],
              timeout=120),
    ]


def by_name(config):
    return {entry.name: entry for entry in declared(config)}


def next_cron(cron, zone, after):
    """The first time (in UTC) after `after` that the cron matches in `zone`, keeping local time across DST.

    A repeated hour (autumn) runs once, in its first pass; a skipped hour's times (spring) run just
    after the change. rq-scheduler's own computation maps skipped times an hour back, into the past,
    so an hourly job would fire on every pass for that hour: AppScheduler uses this one instead.
    """
    tz = ZoneInfo(zone)
    local = after.astimezone(tz).replace(tzinfo=None)
    tab = CronTab(cron)
    while True:
        local = tab.next(now=local, return_datetime=True, default_utc=False)
        candidate = local.replace(tzinfo=tz).astimezone(timezone.utc)  # fold=0; UTC compares plainly
        if candidate > after:
            return candidate


def enqueue_entry(entry, job_id=None, unique=False):
    """Enqueue the real job on its queue; the worker runs it like any other job."""
    return get_queue(entry.queue).enqueue(
        entry.func, *entry.args, job_id=job_id, unique=unique, job_timeout=entry.timeout,
        result_ttl=RESULT_TTL, description=f"{entry.name}: {entry.func}{entry.args!r}")


def dispatch(name):
    """What rq-scheduler runs at each due time: enqueue the real job under an id of that due time.

    rq-scheduler pushes its one job id again at every due time, queued or running or not, so the
    real job gets a per-due-time id and unique=True: one run per due time, whoever pushed how often.
    """
    entry = by_name(current_app.config).get(name)
    if entry is None:
        log.warning("scheduled job %r is no longer declared; nothing enqueued", name)
        return None
    job = get_current_job()
    due = job.meta.get("due") if job else None
    due = datetime.fromtimestamp(due, timezone.utc) if due else datetime.now(timezone.utc)
    job_id = f"{name}-{due:%Y%m%dT%H%M%SZ}"
    try:
        enqueue_entry(entry, job_id=job_id, unique=True)
    except DuplicateJobError:
        log.info("%s already enqueued; not again", job_id)
    return job_id


def sync(scheduler, entries, zone):
    """Register what is declared and missing, cancel what is registered and no longer declared.

    Running it twice, or from two schedulers, changes nothing: ids are stable and zadd is idempotent.
    """
    wanted = {entry.job_id(zone): entry for entry in entries}
    registered = {job.id for job in scheduler.get_jobs() if job.id.startswith(ID_PREFIX)}
    for job_id in registered - set(wanted):
        scheduler.cancel(job_id)
        scheduler.connection.delete(scheduler.job_class.key_for(job_id))
        log.info("cancelled %s (no longer declared)", job_id)
    now = datetime.now(timezone.utc)
    for job_id, entry in wanted.items():
        if job_id in registered:
            continue
        options = dict(func=dispatch, args=(entry.name,), queue_name=entry.queue, id=job_id, timeout=60,
                       description=f"schedule {entry.name}: {entry.func}{entry.args!r}")
        if entry.cron:
            scheduler.cron(entry.cron, meta={"timezone": zone}, use_local_timezone=True, **options)
            scheduler.connection.zadd(scheduler.scheduled_jobs_key,
                                      {job_id: next_cron(entry.cron, zone, now).timestamp()})
        else:
            scheduler.schedule(now, interval=entry.interval, **options)
        log.info("registered %s (%s)", job_id, entry.describe())
    return wanted


class AppScheduler(Scheduler):
    """rq-scheduler's loop, plus: (re)sync under its lock, a heartbeat, no piling up, DST-safe cron."""

    def __init__(self, *args, entries, zone, **kwargs):
        super().__init__(*args, **kwargs)
        self.entries, self.zone = entries, zone
        self.wanted = [entry.job_id(zone) for entry in entries]
        self.synced = False

    def heartbeat(self):
        super().heartbeat()
        self.connection.set(HEARTBEAT_KEY, int(time.time()), ex=HEARTBEAT_TTL)

    def schedule_lost(self):
        """Redis restarted without persistence or was flushed: some declared id is gone."""
        return any(score is None for score in self.connection.zmscore(self.scheduled_jobs_key, self.wanted))

    def enqueue_jobs(self):
        # Runs under rq-scheduler's lock, so a second scheduler never sees a half-done sync or push.
        if not self.synced or self.schedule_lost():
            sync(self, self.entries, self.zone)
            log.info("schedule synced: %d recurring jobs, cron times in %s", len(self.wanted), self.zone)
            self.synced = True
        due = list(self.get_jobs_to_queue(with_times=True))
        for job, due_time in due:
            job.meta["due"] = due_time.replace(tzinfo=timezone.utc).timestamp()
            self.enqueue_job(job)
        return [job for job, _ in due]

    def enqueue_job(self, job):
        queue = self.get_queue_for_job(job)
        if self.connection.lpos(queue.key, job.id) is not None:
            log.warning("%s is still waiting in queue %r (no worker?); not pushing another copy", job.id, job.origin)
        else:
            super().enqueue_job(job)
        self.connection.zadd(self.scheduled_jobs_key, {job.id: self.next_time(job).timestamp()})

    def next_time(self, job):
        now = datetime.now(timezone.utc)
        if job.meta.get("cron_string"):
            return next_cron(job.meta["cron_string"], job.meta.get("timezone", self.zone), now)
        return now + timedelta(seconds=job.meta["interval"])

    # Shutting down while Redis is away must still exit cleanly instead of raising from the handler.
    def register_death(self):
        try:
            super().register_death()
        except RedisError:
            pass

    def remove_lock(self):
        try:
            super().remove_lock()
        except RedisError:
            self._lock_acquired = False


def run_forever(connection, entries, zone, max_backoff=30):
    """Run the scheduler loop and ride out Redis outages: under honcho our exit would stop every process."""
    backoff = 1
    while True:
        scheduler = AppScheduler(connection=connection, interval=INTERVAL, entries=entries, zone=zone)
        started = time.monotonic()
        try:
            scheduler.run()
        except Exception as exc:  # noqa: BLE001  (anything but a stop signal: log it and start over)
            if time.monotonic() - started > 60:
                backoff = 1  # it ran fine for a while: this is a new outage
            if isinstance(exc, RedisError):
                log.warning("redis unavailable (%s: %s); retrying in %ss", type(exc).__name__, exc, backoff)
            else:
                log.exception("scheduler loop failed; restarting in %ss", backoff)
            time.sleep(backoff)
            backoff = min(2 * backoff, max_backoff)
