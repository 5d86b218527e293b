"""The scheduler process: rq-scheduler's own loop, keeping the declared schedule in Redis.

rq-scheduler is used as it is meant to be: sync() registers each declared job with its cron() or
schedule() under a stable id, and its run() loop pushes each job onto its queue when due. AppScheduler
is the one place that deviates from stock rq-scheduler, through five public methods
(tests/test_rq_hooks.py fails if an upgrade renames them or stops calling them):

- enqueue_jobs: the first pass, and any pass that finds a declared id gone (Redis flushed or restarted
  without persistence), syncs first. run() calls it only while holding rq-scheduler's lock, so a second
  scheduler never sees a half-done sync.
- enqueue_job: a recurring job still waiting in its queue (no worker running) is not pushed again, so
  copies never pile up (one still running is pushed: its next due time is another run); and a cron
  job's next run is computed in TIMEZONE with zoneinfo, replacing rq-scheduler's, which uses the
  process's local zone and maps a skipped hour's times into the past.
- heartbeat: also writes SCHEDULER_HEARTBEAT_KEY, which /healthz reads.
- register_death, remove_lock: with Redis down they log instead of raising, so a stop signal during an
  outage still ends the process (rq-scheduler's handler calls both before raising SystemExit).
"""
import logging
import time
import warnings
from datetime import datetime, timedelta, timezone

from redis.exceptions import RedisError
from rq.job import JobStatus
from rq_scheduler import Scheduler

from app.queues import SCHEDULER_HEARTBEAT_KEY
from jobs.schedule import ID_PREFIX, next_cron

log = logging.getLogger(__name__)

INTERVAL = 5  # seconds between scheduler passes: a due job waits at most this long
HEARTBEAT_TTL = 6 * INTERVAL
REDIS_PATIENCE = 5  # seconds a Redis command is retried (app.extensions.redis_client); run_forever waits out more
RETIRED_TTL = 86400  # seconds an old registration's last run stays readable (rq-scheduler keeps its jobs forever)

# rq-scheduler calls CronTab.next() without default_utc, which warns on every cron job, every time.
warnings.filterwarnings("ignore", message=r"Version 0\.22\.0\+ of crontab", category=FutureWarning)


def sync(scheduler, entries, zone):
    """Register what is declared and missing, cancel what is ours and no longer declared.

    Running it twice, or from two schedulers, changes nothing: ids are stable and zadd is idempotent.
    An upgrade that changes a definition changes its id; the run the old registration owed is kept: a
    copy already in its queue (or running) still runs and then expires, and a due time not pushed yet
    passes to the new registration, which then runs at once.
    """
    wanted = {entry.job_id(zone): entry for entry in entries}
    registered, overdue = set(), set()
    now = datetime.now(timezone.utc)
    for job, due in scheduler.get_jobs(with_times=True):
        if job.id in wanted:
            registered.add(job.id)
        elif job.id.startswith(ID_PREFIX):
            scheduler.cancel(job)
            if retire(job) and due.replace(tzinfo=timezone.utc) <= now:
                overdue.add(entry_name(job.id))
            log.info("cancelled %s (no longer declared)", job.id)
    for job_id, entry in wanted.items():
        if job_id in registered:
            continue
        options = dict(func=entry.func, args=entry.args, queue_name=entry.queue, id=job_id, timeout=entry.timeout,
                       description=f"{entry.name}: {entry.func}{entry.args!r}")
        if entry.cron:
            job = scheduler.cron(entry.cron, meta={"timezone": zone}, **options)
            scheduler.change_execution_time(job, now if entry.name in overdue else next_cron(entry.cron, zone, now))
        else:
            scheduler.schedule(now, interval=entry.interval, **options)
        log.info("registered %s (%s)", job_id, entry.describe())
    return wanted


def retire(job):
    """Delete an old registration, unless a copy waits in its queue (that run goes ahead, and the job then
    expires) or runs (deleting would not stop it). True when deleted: any due time it had is still owed."""
    status = job.get_status()
    if status == JobStatus.QUEUED:
        job.result_ttl = RETIRED_TTL
        job.save()
    elif status != JobStatus.STARTED:
        job.delete()
    return status not in (JobStatus.QUEUED, JobStatus.STARTED)


def entry_name(job_id):
    return job_id[len(ID_PREFIX):].rsplit("-", 1)[0]


class AppScheduler(Scheduler):
    """rq-scheduler's Scheduler plus the deviations listed in this module's docstring."""

    def __init__(self, *args, entries, zone, **kwargs):
        super().__init__(*args, **kwargs)
        self.entries, self.zone = entries, zone
        self.wanted = [entry.job_id(zone) for entry in entries]
        self.synced = False

    def enqueue_jobs(self):
        if not self.synced or self.schedule_lost():
            sync(self, self.entries, self.zone)
            log.info("schedule synced: %d recurring jobs, cron times in %s", len(self.wanted), self.zone)
            self.synced = True
        return super().enqueue_jobs()

    def schedule_lost(self):
        return any(score is None for score in self.connection.zmscore(self.scheduled_jobs_key, self.wanted))

    def enqueue_job(self, job):
        recurring = bool(job.meta.get("cron_string") or job.meta.get("interval"))
        if recurring and self.get_queue_for_job(job).get_job_position(job) is not None:
            log.warning("%s is still waiting in queue %r (no worker?); not pushing another copy", job.id, job.origin)
        else:
            due = self.connection.zscore(self.scheduled_jobs_key, job.id)
            super().enqueue_job(job)
            log.info("enqueued %s on %s, due %s", job.id, job.origin, utc_iso(due))
        if recurring and job.meta.get("repeat") != 0:  # rq-scheduler drops a job whose repeats ran out
            self.change_execution_time(job, self.next_run(job))

    def next_run(self, job):
        now = datetime.now(timezone.utc)
        if job.meta.get("cron_string"):
            return next_cron(job.meta["cron_string"], job.meta.get("timezone", self.zone), now)
        return now + timedelta(seconds=job.meta["interval"])  # as rq-scheduler computes it

    def heartbeat(self):
        super().heartbeat()
        self.connection.set(SCHEDULER_HEARTBEAT_KEY, int(time.time()), ex=HEARTBEAT_TTL)

    def register_death(self):
        try:
            super().register_death()
        except RedisError as exc:
            log.warning("redis unavailable (%s); scheduler death not registered", exc)

    def remove_lock(self):
        try:
            super().remove_lock()
        except RedisError as exc:  # the lock expires by itself (interval + 10 s)
            log.warning("redis unavailable (%s); scheduler lock not removed", exc)


def utc_iso(timestamp):
    return "?" if timestamp is None else f"{datetime.fromtimestamp(timestamp, timezone.utc):%Y-%m-%dT%H:%M:%SZ}"


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
