"""The operator's pages under /admin/: who may see them, the chart, jobs, mail and accounts, through real forms."""
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pyotp
import pytest
from flask_migrate import downgrade, upgrade
from redis import Redis
from rq.registry import FailedJobRegistry
from sqlalchemy import func, inspect, select

from app import stats
from app.accounts import passwords
from app.extensions import db
from app.models import DailyStats, Event, OutboxMail, Passkey, User, utcnow
from app.queues import get_queue
from jobs.worker import AppSimpleWorker
from tests.helpers import (
    PASSWORD,
    deliver,
    events,
    hidden_inputs,
    login,
    new_mail,
    outbox_row,
    register,
    second_step,
    with_app_codes,
)

SVG = "{http://www.w3.org/2000/svg}"
PAGES = ["/admin/", "/admin/jobs", "/admin/mail", "/admin/users"]
ACTIONS = ["/admin/jobs/default/some-job/retry", "/admin/jobs/default/some-job/delete", "/admin/mail/1/resend",
           "/admin/users/1/resend", "/admin/users/1/verify", "/admin/users/1/disable", "/admin/users/1/enable"]


ADMIN_APP_SECRET = pyotp.random_base32()


def add_user(app, username, admin=False, verified=True):
    """An account; an administrator has an authenticator app (ADMIN_APP_SECRET), as /admin/ requires."""
    with app.app_context():
        user = User(username=username, email=f"{username}@example.com", is_admin=admin,
                    password_hash=passwords.hash_password(PASSWORD), verified_at=utcnow() if verified else None)
        if admin:
            with_app_codes(user, ADMIN_APP_SECRET)
        db.session.add(user)
        db.session.commit()
        return user.id


@pytest.fixture
def admin(app, client):
    """The test client, logged in as an administrator."""
    add_user(app, "root", admin=True)
    assert login(client, "root").location.endswith("/auth/login/code")
    assert second_step(client, app, ADMIN_APP_SECRET, "root").status_code == 303
    return client


def post(client, path, page="/admin/users", **data):
    """Press a button of `page`: its form's own csrf token goes with the POST."""
    html = client.get(page).get_data(as_text=True)
    form = re.search(rf'<form[^>]*action="{re.escape(path)}".*?</form>', html, re.S)
    assert form, f"no button for {path} on {page}"
    return client.post(path, data={**hidden_inputs(form.group(0)), **data})


def failed_job(run_jobs, redis_url):
    """A real failure: the stats job on a day that is no date, run by a real worker."""
    job = get_queue("default", connection=Redis.from_url(redis_url)).enqueue("jobs.stats.record_day", "not-a-date")
    run_jobs()
    return job.id


def test_every_page_and_action_sends_anonymous_visitors_to_login_and_refuses_other_users(app, client):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/auth/login" in response.headers["Location"], path
    token = hidden_inputs(client.get("/auth/login").get_data(as_text=True))["csrf_token"]
    for path in ACTIONS:
        response = client.post(path, data={"csrf_token": token})
        assert response.status_code == 302, path
        assert "/auth/login" in response.headers["Location"], path
    add_user(app, "mallory")
    assert login(client, "mallory").status_code == 303
    token = hidden_inputs(client.get("/account").get_data(as_text=True))["csrf_token"]
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    for path in ACTIONS:
        assert client.post(path, data={"csrf_token": token}).status_code == 403, path
    assert events(app, Event.ADMIN_USER_DISABLED) == 0


def test_admin_pages_answer_and_are_never_cached(admin):
    for path in PAGES:
        response = admin.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store"
    assert admin.post("/admin/users/1/verify").status_code == 400  # an action without its csrf token


def test_actions_answer_303_to_an_administrator(app, admin, run_jobs, redis_server):
    job_id = failed_job(run_jobs, redis_server.url)
    user_id = add_user(app, "bob", verified=False)
    with app.app_context():
        mail_id = new_mail("carol@example.com")
    for path, page in ((f"/admin/jobs/default/{job_id}/retry", "/admin/jobs"),
                       (f"/admin/mail/{mail_id}/resend", "/admin/mail"),
                       (f"/admin/users/{user_id}/resend", "/admin/users"),
                       (f"/admin/users/{user_id}/verify", "/admin/users"),
                       (f"/admin/users/{user_id}/disable", "/admin/users"),
                       (f"/admin/users/{user_id}/enable", "/admin/users")):
        response = post(admin, path, page)
        assert response.status_code == 303, path
        assert response.headers["Location"] == page, path
    run_jobs()  # the retried job fails again
    response = post(admin, f"/admin/jobs/default/{job_id}/delete", "/admin/jobs")
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/jobs"


def test_dashboard_draws_the_seeded_days_as_proportional_bars(app, admin):
    today = datetime.now(ZoneInfo(app.config["TIMEZONE"])).date()
    seeded = {today - timedelta(days=2): (8, 6, 20), today - timedelta(days=1): (4, 2, 10), today: (2, 1, 5)}
    medians = {today - timedelta(days=2): 600.0, today - timedelta(days=1): 60.0, today: 1200.0}
    with app.app_context():
        happen_today(app, today, verified_after=1200)  # today is counted from the events as they happen
        for day, (registrations, verifications, logins) in list(seeded.items())[:2]:
            db.session.add(DailyStats(day=day, registrations=registrations, verifications=verifications, logins=logins,
                                      verification_rate=verifications / registrations,
                                      median_seconds_to_verify=medians[day]))
        db.session.add(DailyStats(day=today - timedelta(days=40), registrations=999))  # outside the 30 days
        db.session.commit()
    html = admin.get("/admin/").get_data(as_text=True)
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text.startswith("Registrations, verifications")
    bars = svg.findall(f".//{SVG}rect")
    assert len(bars) == 30 * 3
    by_label = {bar.get("data-value-label"): float(bar.get("height")) for bar in bars}
    unit = by_label[f"{today.isoformat()}: 1 Verifications"]
    for day, counts in seeded.items():
        for count, name in zip(counts, ("Registrations", "Verifications", "Logins")):
            assert by_label[f"{day.isoformat()}: {count} {name}"] == pytest.approx(count * unit, rel=0.01)
    assert by_label[f"{(today - timedelta(days=3)).isoformat()}: 0 Logins"] == 0
    assert {text.text for text in svg.iter(f"{SVG}text")} >= {"0", "20", today.strftime("%m-%d")}  # axis labels
    assert 'class="legend"' in html
    assert "999" not in html
    assert "14 registrations" not in html
    assert ">14<" in html  # the total in the figures
    assert "64%" in html  # (6 + 2 + 1) verified of 14 registered
    figures = re.search(r'<dl class="figures">.*?</dl>', html, re.S).group(0)
    assert "<dd>10 minutes</dd>" in figures  # 6 people's median 10 min outweighs 2 at 1 min and 1 at 20 min
    table = re.search(r'<table class="list numbers">.*?</table>', html, re.S).group(0)
    assert f"<th scope=\"row\">{today.isoformat()}</th>" in table
    assert "<td>20</td>" in table


def happen_today(app, today, verified_after):
    """Two sign-ups today, one confirmed `verified_after` seconds later, and four logins: events only."""
    start, _ = stats.utc_bounds(today, ZoneInfo(app.config["TIMEZONE"]))
    at = start + timedelta(seconds=1)
    for n in range(2):
        user = User(username=f"today{n}", email=f"today{n}@example.com", password_hash="x", created_at=at,
                    verified_at=at + timedelta(seconds=verified_after) if n == 0 else None)
        db.session.add(user)
        db.session.flush()
        db.session.add(Event(kind=Event.REGISTERED, user_id=user.id, created_at=at))
    db.session.add(Event(kind=Event.VERIFIED, created_at=at))
    db.session.add_all(Event(kind=Event.LOGIN_OK, created_at=at) for _ in range(4))  # and the admin's own
    db.session.commit()


def test_today_moves_as_people_sign_up_and_a_day_without_events_reads_0(app, admin, mailbox):
    """No stats job has run: today's row comes from the event log, and every other day reads 0."""
    before = admin.get("/admin/").get_data(as_text=True)
    assert register(app.test_client(), username="newcomer", email="newcomer@example.com").status_code == 303
    after = admin.get("/admin/").get_data(as_text=True)
    today = datetime.now(ZoneInfo(app.config["TIMEZONE"])).date().isoformat()
    row = re.search(rf'<th scope="row">{today}</th>(.*?)</tr>', after, re.S).group(1)
    assert re.findall(r"<td>(\d+)</td>", row)[0] == "1"  # the sign-up, at once
    assert re.search(rf'<th scope="row">{today}</th>\s*<td>0</td>', before)
    assert "not computed" not in after
    yesterday = (datetime.now(ZoneInfo(app.config["TIMEZONE"])).date() - timedelta(days=1)).isoformat()
    assert re.search(rf'<th scope="row">{yesterday}</th>\s*<td>0</td>\s*<td>0</td>\s*<td>0</td>', after)


def test_demo_data_fills_a_month_and_is_refused_in_production(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo-data", "--days", "30", "--per-day", "5"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        days = db.session.scalars(select(DailyStats.day).order_by(DailyStats.day)).all()
        registered = db.session.scalar(select(func.count()).select_from(User))
    assert len(days) == 30
    assert registered > 30 * 3
    app.config["APP_ENV"] = "production"
    refused = runner.invoke(args=["demo-data"])
    assert refused.exit_code == 1
    assert refused.output.strip() == "Error: demo-data is refused in production (APP_ENV=production): it invents people"


def test_failed_job_shows_its_error_and_is_retried_then_deleted(app, admin, run_jobs, redis_server):
    job_id = failed_job(run_jobs, redis_server.url)
    queue = get_queue("default", connection=Redis.from_url(redis_server.url))
    registry = FailedJobRegistry(queue=queue)
    assert job_id in registry
    page = admin.get("/admin/jobs").get_data(as_text=True)
    assert job_id in page
    assert "ValueError: Invalid isoformat string: &#39;not-a-date&#39;" in page

    response = post(admin, f"/admin/jobs/default/{job_id}/retry", "/admin/jobs")
    assert response.status_code == 303
    assert job_id not in registry
    assert job_id in queue.get_job_ids()
    assert "queued again" in admin.get("/admin/jobs").get_data(as_text=True)
    assert events(app, Event.ADMIN_JOB_RETRIED) == 1

    run_jobs()
    assert job_id in registry
    assert post(admin, f"/admin/jobs/default/{job_id}/delete", "/admin/jobs").status_code == 303
    assert job_id not in registry
    assert queue.fetch_job(job_id) is None
    assert events(app, Event.ADMIN_JOB_DELETED) == 1
    token = hidden_inputs(admin.get("/admin/jobs").get_data(as_text=True))["csrf_token"]
    again = admin.post(f"/admin/jobs/default/{job_id}/retry", data={"csrf_token": token})
    assert again.status_code == 303
    assert "no longer among the failed" in admin.get("/admin/jobs").get_data(as_text=True)
    assert admin.post("/admin/jobs/nosuchqueue/x/retry", data={"csrf_token": token}).status_code == 404


def test_jobs_page_lists_the_schedule_and_warns_loudly_when_jobs_wait_without_a_worker(app, admin, redis_server):
    page = admin.get("/admin/jobs").get_data(as_text=True)
    assert 'role="alert"' not in page
    for name in ("stats", "backup", "cleanup", "outbox-redrive"):
        assert f'<th scope="row">{name}</th>' in page
    assert f"Next run ({app.config['TIMEZONE']})" in page
    assert "cron 30 3 * * *" in page

    get_queue("maintenance", connection=Redis.from_url(redis_server.url)).enqueue("jobs.cleanup.run")  # no worker is alive in this test
    for path in ("/admin/", "/admin/jobs"):
        page = admin.get(path).get_data(as_text=True)
        assert 'role="alert"' in page, path
        assert "No worker is running." in page, path
        assert "1 job(s) are waiting" in page, path


def test_mail_page_lists_unsent_rows_without_bodies_and_resends_a_failed_one(app, admin):
    with app.app_context():
        failed, pending = new_mail("dave@example.com"), new_mail("erin@example.com")
        row = db.session.get(OutboxMail, failed)
        row.status, row.attempts, row.last_error = OutboxMail.FAILED, 4, "550 mailbox unavailable"
        db.session.commit()
    page = admin.get("/admin/mail").get_data(as_text=True)
    assert "dave@example.com" in page
    assert "erin@example.com" in page
    assert "550 mailbox unavailable" in page
    assert "/auth/verify/" not in page
    assert post(admin, f"/admin/mail/{failed}/resend", "/admin/mail").status_code == 303
    with app.app_context():
        assert outbox_row(failed).status == OutboxMail.PENDING
        assert outbox_row(failed).attempts == 0
        assert outbox_row(pending).status == OutboxMail.PENDING
    assert events(app, Event.ADMIN_MAIL_RESENT) == 1


def test_user_search_finds_by_part_of_the_address_or_username(app, admin):
    add_user(app, "frank")
    add_user(app, "grace_100")
    page = admin.get("/admin/users?q=FRANK@EXAMPLE").get_data(as_text=True)
    assert "frank@example.com" in page
    assert "grace_100" not in page
    page = admin.get("/admin/users?q=e_1").get_data(as_text=True)  # "_" matches itself, not any character
    assert "grace_100" in page
    assert "frank" not in page
    page = admin.get("/admin/users?q=%25").get_data(as_text=True)
    assert "No accounts match." in page


def test_disabling_refuses_login_and_ends_the_open_session(app, admin, make_app):
    user_id = add_user(app, "heidi")
    theirs = app.test_client()
    assert login(theirs, "heidi").status_code == 303
    assert theirs.get("/account").status_code == 200
    assert post(admin, f"/admin/users/{user_id}/disable").status_code == 303
    assert theirs.get("/account").status_code == 302  # the open session ended
    response = login(app.test_client(), "heidi")
    assert response.status_code == 400
    assert "Wrong email, username or password." in response.get_data(as_text=True)
    assert events(app, Event.ADMIN_USER_DISABLED) == 1
    assert "disabled" in admin.get("/admin/users?q=heidi").get_data(as_text=True)

    assert post(admin, f"/admin/users/{user_id}/enable").status_code == 303
    assert login(app.test_client(), "heidi").status_code == 303


def test_an_administrator_cannot_disable_their_own_account(app, admin):
    with app.app_context():
        root = db.session.scalar(db.select(User).where(User.username == "root"))
    page = admin.get("/admin/users").get_data(as_text=True)
    assert f"/admin/users/{root.id}/disable" not in page
    token = hidden_inputs(page)["csrf_token"]
    assert admin.post(f"/admin/users/{root.id}/disable", data={"csrf_token": token}).status_code == 303
    assert admin.get("/admin/users").status_code == 200  # still logged in


def test_mark_verified_and_resend_verification(app, admin, run_jobs, mailbox):
    assert register(app.test_client(), username="ivan", email="ivan@example.com").status_code == 303
    deliver(run_jobs, mailbox)
    with app.app_context():
        ivan = db.session.scalar(db.select(User).where(User.username == "ivan"))
    assert post(admin, f"/admin/users/{ivan.id}/resend", q="ivan").headers["Location"] == "/admin/users?q=ivan"
    [_, second] = deliver(run_jobs, mailbox, count=2)
    assert second.recipients == ["ivan@example.com"]
    assert re.search(r"\b\d{6}\b", second.text)
    assert events(app, Event.ADMIN_VERIFICATION_RESENT) == 1

    assert post(admin, f"/admin/users/{ivan.id}/verify").status_code == 303
    with app.app_context():
        assert db.session.get(User, ivan.id).is_verified
    assert events(app, Event.ADMIN_MARKED_VERIFIED) == 1
    assert events(app, Event.VERIFIED) == 1
    assert login(app.test_client(), "ivan").status_code == 303


def test_disabled_at_migration_goes_down_and_up_keeping_the_accounts(app):
    with app.app_context():
        add_user(app, "judy")
        downgrade(revision="0004_login_sessions")
        assert "disabled_at" not in {column["name"] for column in inspect(db.engine).get_columns("user")}
        upgrade()
        assert "disabled_at" in {column["name"] for column in inspect(db.engine).get_columns("user")}
        assert db.session.scalar(select(User.disabled_at).where(User.username == "judy")) is None


def test_the_users_page_and_the_dashboard_show_second_factors(app, admin):
    add_user(app, "frank")
    with app.app_context():
        frank = db.session.scalar(select(User).where(User.username == "frank"))
        db.session.add_all([Passkey(user_id=frank.id, credential_id=f"key-{n}", public_key=b"k", name=f"key {n}")
                            for n in range(2)])
        Event.record(Event.PASSKEY_ADDED, user=frank)
        Event.record(Event.PASSKEY_ADDED, user=frank)
        db.session.commit()
    rows = {row.split("<")[0].strip(): row
            for row in admin.get("/admin/users").get_data(as_text=True).split('<th scope="row">')[1:]}
    assert "<td>app</td>" in rows["root"]  # the administrator's authenticator app
    assert "<td>2 passkeys</td>" in rows["frank"]
    figures = admin.get("/admin/").get_data(as_text=True)
    assert re.search(r"Accounts with a second factor</dt><dd>2<", figures)  # root's app, frank's passkeys
    assert re.search(r"Second factors set up</dt><dd>2<", figures)  # the two passkeys added (root's app was seeded)


def test_a_queue_no_worker_listens_on_is_named_when_jobs_wait_there(app, admin, redis_server):
    connection = Redis.from_url(redis_server.url)
    worker = AppSimpleWorker(["mail", "default"], connection=connection, app=app)  # worker-bulk is down
    worker.register_birth()
    try:
        assert "No worker listens on" not in admin.get("/admin/").get_data(as_text=True)  # nothing waits yet
        get_queue("maintenance", connection=connection).enqueue("jobs.cleanup.run")
        page = admin.get("/admin/").get_data(as_text=True)
        assert "No worker listens on avatars, maintenance." in page
        assert "No worker is running." not in page
    finally:
        worker.register_death()
