"""The admin pages in Chromium against the Procfile's web process: the chart, a failed job retried by its button, 360 px."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pyotp
import pytest
from playwright.sync_api import expect, sync_playwright
from redis import Redis
from rq.registry import FailedJobRegistry

from app.accounts import passwords
from app.extensions import db
from app.models import DailyStats, User, utcnow
from app.queues import get_queue
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, PASSWORD, with_app_codes
from tests.services import start_site

pytestmark = pytest.mark.processes
APP_SECRET = pyotp.random_base32()


@pytest.fixture
def seeded(app, run_jobs, redis_server):
    """An administrator, two weeks of statistics and one job that really failed in a real worker."""
    with app.app_context():
        root = User(username="root", email="root@example.com", is_admin=True, verified_at=utcnow(),
                    password_hash=passwords.hash_password(PASSWORD))
        with_app_codes(root, APP_SECRET)  # /admin/ needs a second factor
        db.session.add(root)
        today = datetime.now(ZoneInfo(app.config["TIMEZONE"])).date()
        for i in range(14):
            db.session.add(DailyStats(day=today - timedelta(days=i), registrations=10 + i, verifications=5 + i,
                                      logins=20 + i, verification_rate=0.5, median_seconds_to_verify=90.0))
        db.session.commit()
    queue = get_queue("default", connection=Redis.from_url(redis_server.url))
    job = queue.enqueue("jobs.stats.record_day", "not-a-date")
    run_jobs()
    return queue, job.id


@pytest.fixture
def web(seeded, app_env, tmp_path):
    processes = []
    try:
        base, processes = start_site(app_env, str(tmp_path), ("web",))
        yield base
    finally:
        for process in processes:
            process.stop(timeout=5)


def test_admin_sees_the_chart_and_retries_a_failed_job_by_its_button(web, seeded):
    queue, job_id = seeded
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(web + "/admin/")
            expect(page).to_have_url(f"{web}/auth/login?next=%2Fadmin%2F")
            page.fill("input[name=login]", "root")
            page.fill("input[name=password]", PASSWORD)
            page.press("input[name=password]", "Enter")
            expect(page).to_have_url(web + "/auth/login/code")
            page.fill("input[name=code]", pyotp.TOTP(APP_SECRET).now())
            page.press("input[name=code]", "Enter")
            expect(page).to_have_url(web + "/admin/")
            chart = page.get_by_role("img", name="Registrations, verifications and logins per day, last 30 days")
            expect(chart).to_be_visible()
            expect(chart.locator("rect.bar")).to_have_count(90)
            assert chart.bounding_box()["height"] > 100  # drawn, not collapsed
            expect(page.locator("ul.legend li")).to_have_count(3)

            page.get_by_role("link", name="Jobs", exact=True).click()
            row = page.locator("table.failed tr", has_text=job_id)
            expect(row).to_contain_text("ValueError: Invalid isoformat string: 'not-a-date'")
            row.get_by_role("button", name="Retry").click()
            expect(page.locator(".flash.success")).to_contain_text(f"Job {job_id} is queued again.")
            expect(page.locator("table.failed")).to_have_count(0)
            expect(page.get_by_role("alert")).to_contain_text("No worker is running.")  # it waits: no worker here

            phone = browser.new_page(viewport={"width": 360, "height": 740})
            phone.context.add_cookies(page.context.cookies())
            for path in ("/admin/", "/admin/jobs", "/admin/mail", "/admin/users"):
                phone.goto(web + path)
                expect(phone.locator("h1")).to_be_visible()
                assert phone.evaluate("document.documentElement.scrollWidth") <= 360, path  # tables scroll in their box
        finally:
            browser.close()
    assert job_id in queue.get_job_ids()
    assert job_id not in FailedJobRegistry(queue=queue)
