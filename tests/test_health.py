"""/healthz: what an operator needs to see about the database, Redis, workers, scheduler and mail."""
import time
from datetime import timedelta

import pytest

from app.extensions import db, get_redis
from app.health import SCHEDULER_HEARTBEAT_KEY
from app.models import OutboxMail, utcnow
from jobs import mail, smtp
from tests.helpers import HEALTHZ, new_mail
from tests.services import Process, wait_until


def test_healthy_but_idle_stack_lists_what_is_missing(client):
    response = client.get("/healthz", headers=HEALTHZ)
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True
    assert body["mail_overdue"] == 0
    assert body["mail_failed_last_day"] == 0
    assert body["scheduler_heartbeat_age_seconds"] is None
    assert any("no worker" in w for w in body["warnings"])
    assert any("no scheduler heartbeat" in w for w in body["warnings"])


def test_scheduler_heartbeat_age_is_reported(app, client):
    with app.app_context():
        get_redis().set(SCHEDULER_HEARTBEAT_KEY, str(time.time() - 12), ex=60)
    body = client.get("/healthz", headers=HEALTHZ).get_json()
    assert 11 <= body["scheduler_heartbeat_age_seconds"] <= 20
    assert not any("scheduler" in w for w in body["warnings"])


def test_overdue_and_failed_mail_are_counted(app, client, mailbox):
    with app.app_context():
        mailbox.refused = {"gone@example.com"}
        mail.send(new_mail("gone@example.com"))
        smtp.sender().close()
        stuck, _fresh = new_mail("stuck@example.com"), new_mail("fresh@example.com")  # fresh: not overdue
        db.session.execute(OutboxMail.__table__.update().where(OutboxMail.id == stuck).values(
            next_attempt_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
    body = client.get("/healthz", headers=HEALTHZ).get_json()
    assert (body["mail_overdue"], body["mail_failed_last_day"]) == (1, 1)
    assert "1 mail(s) overdue" in body["warnings"]
    assert "1 mail(s) failed in the last day" in body["warnings"]


@pytest.mark.processes
def test_healthz_counts_the_procfile_worker_and_queued_jobs(app_env, app, client, tmp_path):
    worker = Process("worker", app_env, str(tmp_path)).start()
    try:
        body = wait_until(lambda: (b := client.get("/healthz", headers=HEALTHZ).get_json())["workers"] >= 1 and b, timeout=30,
                          message="worker registered")
        assert body["queues"] == {"mail": 0, "default": 0, "avatars": 0, "maintenance": 0}
        assert not any("no worker is running" in w for w in body["warnings"])
        assert body["queues_without_worker"] == ["avatars", "maintenance"]  # worker-bulk is not started here
        assert body["jobs_waiting_in_queues_without_worker"] == 0
        assert any("no worker listens on avatars, maintenance" in w for w in body["warnings"])
    finally:
        worker.stop()
