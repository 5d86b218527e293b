"""Jobs and mail on /admin/: queues, workers, the schedule, failed jobs (retry, delete), and the outbox.

Queue lengths, workers and the scheduler's heartbeat come from app.health (what /healthz reports);
the schedule from jobs.schedule.upcoming (what `flask schedule list` prints); mail from app.outbox.
"""
from flask import abort, current_app, flash, render_template
from flask_babel import gettext as _
from flask_login import current_user
from redis.exceptions import RedisError
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from app import outbox
from app.admin import bp
from app.http import see_other
from app.extensions import db, get_redis
from app.health import check_jobs
from app.models import Event, OutboxMail
from app.queues import QUEUES, get_queue
from jobs import schedule

FAILED_SHOWN = 100  # per queue, newest first


def failed_registry(queue_name):
    if queue_name not in QUEUES:
        abort(404)
    return FailedJobRegistry(queue=get_queue(queue_name))


def last_line(text):
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else _("no details")


def failed_jobs():
    """Every queue's failed jobs, with the last line of the exception (the error itself, not the stack)."""
    found = []
    for name in QUEUES:
        registry = failed_registry(name)
        ids = registry.get_job_ids(0, FAILED_SHOWN - 1, desc=True)
        for job_id, job in zip(ids, Job.fetch_many(ids, connection=get_redis())):
            if job is None:  # its record expired while the registry still named it
                continue
            result = job.latest_result()
            found.append({"queue": name, "id": job.id, "description": job.description, "ended_at": job.ended_at,
                          "error": last_line(result.exc_string if result else job.exc_info)})
    return found


@bp.get("/jobs")
def jobs():
    try:
        upcoming, failed = schedule.upcoming(current_app.config, get_redis()), failed_jobs()
    except RedisError:
        upcoming, failed = None, None
    return render_template("admin/jobs.html", jobs=check_jobs(), upcoming=upcoming, failed=failed,
                           zone=current_app.config["TIMEZONE"])


def act_on_failed(queue_name, job_id, action, event, done):
    registry = failed_registry(queue_name)
    try:
        if job_id not in registry:
            raise InvalidJobOperation
        action(registry)
    except (InvalidJobOperation, NoSuchJobError):
        flash(_("That job is no longer among the failed jobs."), "error")
    except RedisError:
        flash(_("Redis is unavailable: nothing was changed."), "error")
    else:
        Event.record(event, user=current_user, detail=f"{queue_name} {job_id}"[:200])
        db.session.commit()
        flash(done, "success")
    return see_other("admin.jobs")


@bp.post("/jobs/<queue_name>/<job_id>/retry")
def retry_job(queue_name, job_id):
    return act_on_failed(queue_name, job_id, lambda registry: registry.requeue(job_id), Event.ADMIN_JOB_RETRIED,
                         _("Job %(id)s is queued again.", id=job_id))


@bp.post("/jobs/<queue_name>/<job_id>/delete")
def delete_job(queue_name, job_id):
    return act_on_failed(queue_name, job_id, lambda registry: registry.remove(job_id, delete_job=True),
                         Event.ADMIN_JOB_DELETED, _("Job %(id)s is deleted.", id=job_id))


@bp.get("/mail")
def outbox_rows():
    """/admin/mail: the outbox rows not sent yet or given up on; a pending row with attempts is retrying."""
    rows = db.session.scalars(
        select(OutboxMail).where(OutboxMail.status.in_([OutboxMail.PENDING, OutboxMail.SENDING, OutboxMail.FAILED,
                                                        OutboxMail.DROPPED, OutboxMail.HELD]))
        .order_by(OutboxMail.id.desc()).limit(500)).all()
    return render_template("admin/mail.html", rows=rows)


@bp.post("/mail/<int:outbox_id>/resend")
def resend_mail(outbox_id):
    queued, missing = outbox.put_back([outbox_id])
    if missing:
        flash(_("That mail was sent or cancelled meanwhile: nothing to resend."), "error")
    elif not queued:
        flash(_("A worker is sending that mail right now."), "info")
    else:
        Event.record(Event.ADMIN_MAIL_RESENT, user=current_user, detail=f"outbox {outbox_id}")
        db.session.commit()
        flash(_("Mail %(id)s will be sent again.", id=outbox_id), "success")
    return see_other("admin.outbox_rows")
