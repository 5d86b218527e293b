"""Untrusted and slow work runs apart from mail: the Procfile's worker-bulk forks a work horse per job, each
within JOB_MEMORY_MB, while `worker` keeps sending mail (real processes, Redis and SMTP sink)."""
import io

import pytest
from redis import Redis
from rq import Queue
from rq.job import JobStatus
from rq.registry import FailedJobRegistry

from app.accounts import passwords
from app.extensions import db
from app.models import AvatarUpload, User, utcnow
from app.queues import get_queue
from jobs import avatar
from tests import pictures
from tests.helpers import PASSWORD, Visitor, form_page, login, mail_to
from tests.services import ROOT, procfile_command, start_site, wait_until


def test_the_procfile_runs_mail_and_bulk_work_in_separate_workers():
    mail_worker, bulk_worker = procfile_command("worker"), procfile_command("worker-bulk")
    assert mail_worker.split()[-2:] == ["mail", "default"]
    assert "worker-pool" in mail_worker
    assert bulk_worker.split()[-2:] == ["avatars", "maintenance"]
    assert "jobs.worker.AppWorker" in bulk_worker  # rq's forking worker: each job in its own work horse


def latest_upload(app):
    with app.app_context():
        return db.session.scalars(db.select(AvatarUpload).order_by(AvatarUpload.id.desc()).limit(1)).first()


def upload(client, data, filename):
    fields = {**form_page(client, "/account"), "avatar": (io.BytesIO(data), filename)}
    assert client.post("/account/avatar", data=fields, content_type="multipart/form-data").status_code == 303


@pytest.mark.processes
def test_a_picture_over_the_memory_bound_fails_alone_and_mail_keeps_going(app, client, app_env, tmp_path, mailbox,
                                                                          redis_server):
    base, processes = start_site({**app_env, "JOB_MEMORY_MB": "64", "PYTHONPATH": ROOT}, str(tmp_path),
                                 ("web", "worker", "worker-bulk"))
    try:
        with app.app_context():
            db.session.add(User(username="alice", email="alice@example.com", verified_at=utcnow(),
                                password_hash=passwords.hash_password(PASSWORD)))
            db.session.commit()
        assert login(client).status_code == 303
        upload(client, pictures.png(4000, 3000), "12-megapixels.png")  # ~140 MB to decode: over 64
        assert Visitor(base).submit("/auth/register", username="bob", email="bob@example.com", password=PASSWORD,
                                    confirm=PASSWORD, captcha="PASSED")[0] == 303
        assert "/auth/verify/" in mail_to(mailbox, "bob@example.com", "Confirm your email address")
        wait_until(lambda: latest_upload(app).status == AvatarUpload.FAILED, timeout=60, message="the failure noted")
        assert latest_upload(app).error == "too_many_pixels"
        upload(client, pictures.png(), "small.png")  # the bulk worker goes on with the next picture
        wait_until(lambda: latest_upload(app).status == AvatarUpload.DONE, timeout=60, message="the next processed")
        assert all(process.process.poll() is None for process in processes)
        assert FailedJobRegistry("avatars", connection=Redis.from_url(redis_server.url)).count == 1
    finally:
        for process in processes:
            process.stop(timeout=5)


def uploaded_as_alice(app, client):
    with app.app_context():
        db.session.add(User(username="alice", email="alice@example.com", verified_at=utcnow(),
                            password_hash=passwords.hash_password(PASSWORD)))
        db.session.commit()
    assert login(client).status_code == 303
    upload(client, pictures.png(), "me.png")


def test_an_upload_whose_job_redis_lost_is_queued_again(app, client):
    uploaded_as_alice(app, client)
    with app.app_context():
        assert avatar.redrive(older_than_seconds=0) == 0  # its job is queued: left alone
        get_queue("avatars").connection.flushdb()  # Redis lost it
        assert avatar.redrive(older_than_seconds=3600) == 0  # too recent to be presumed lost
        assert avatar.redrive(older_than_seconds=0) == 1
        assert [job.args for job in get_queue("avatars").jobs] == [(latest_upload(app).id,)]
        assert avatar.redrive(older_than_seconds=0) == 0  # queued again once, not twice
        queue = get_queue("avatars")
        Queue.dequeue_any([queue], None, connection=queue.connection)  # a worker takes it, then dies
        assert avatar.redrive(older_than_seconds=0) == 1
        assert [job.args for job in queue.jobs] == [(latest_upload(app).id,)]


def test_an_upload_whose_work_horse_was_killed_is_marked_failed_not_left_waiting(app, client):
    uploaded_as_alice(app, client)
    with app.app_context():
        queue = get_queue("avatars")
        job = queue.jobs[0]
        queue.remove(job)  # what rq does when the kernel kills the work horse: the job fails, the upload is untouched
        job.set_status(JobStatus.FAILED)
        FailedJobRegistry(queue=queue).add(job, exc_string="Work-horse terminated unexpectedly; waitpid returned 9")
        assert avatar.redrive(older_than_seconds=0) == 0  # not queued again
        assert (latest_upload(app).status, latest_upload(app).error) == (AvatarUpload.FAILED, "failed")
    page = client.get("/account").get_data(as_text=True)
    assert "We could not process this picture. Try another one." in page
