"""The recurring jobs, declared once, and their idempotent sync into rq-scheduler."""
import hashlib
from dataclasses import dataclass, field

from flask import current_app


@dataclass(frozen=True)
class Entry:
    name: str
    func: str  # dotted path, so declaring the schedule imports no job code
    queue: str = "default"
    cron: str | None = None
    interval: int | None = None
    args: tuple = field(default=())
    timeout: int = 600

    def job_id(self):
        definition = f"{self.func}|{self.cron}|{self.interval}|{self.args}|{self.queue}|{self.timeout}"
        return f"schedule-{self.name}-{hashlib.sha1(definition.encode()).hexdigest()[:8]}"


def declared():
    config = current_app.config
    return [
        Entry("outbox-redrive", "jobs.outbox.redrive", queue="mail", interval=config["OUTBOX_SWEEP_SECONDS"],
              timeout=120),
    ]


def sync(scheduler):
    """Register what is declared and missing, cancel what is registered and no longer declared."""
    wanted = {entry.job_id(): entry for entry in declared()}
    registered = {job.id for job in scheduler.get_jobs() if job.id.startswith("schedule-")}
    for job_id in registered - set(wanted):
        scheduler.cancel(job_id)
    for job_id, entry in wanted.items():
        if job_id in registered:
            continue
        if entry.cron:
            scheduler.cron(entry.cron, func=entry.func, args=entry.args, queue_name=entry.queue, id=job_id,
                           timeout=entry.timeout, use_local_timezone=True)
        else:
            from datetime import datetime, timezone
            scheduler.schedule(datetime.now(timezone.utc), func=entry.func, args=entry.args,
                               interval=entry.interval, repeat=None, queue_name=entry.queue, id=job_id,
                               timeout=entry.timeout)
    return wanted
