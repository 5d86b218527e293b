"""Avatars with the real stack: the Procfile's worker in another directory, no worker at first, gunicorn's 413,
and Chromium uploading through the page (which also takes the screenshots of /account)."""
import io
import os
import re

import pytest
from PIL import Image
from redis import Redis
from rq.registry import FailedJobRegistry

from app.accounts import passwords
from app.extensions import db
from app.models import AvatarUpload, User, utcnow
from app.queues import get_queue
from tests import pictures
from tests.helpers import CHROMIUM, CHROMIUM_ARGS, PASSWORD, answer_before_the_body, form_page, login
from tests.services import ROOT, Process, free_port, port_open, start_site, wait_until


def verified_account(app):
    with app.app_context():
        db.session.add(User(username="alice", email="alice@example.com", verified_at=utcnow(),
                            password_hash=passwords.hash_password(PASSWORD)))
        db.session.commit()


def upload(client, data, filename="me.jpg"):
    fields = {**form_page(client, "/account"), "avatar": (io.BytesIO(data), filename)}
    response = client.post("/account/avatar", data=fields, content_type="multipart/form-data")
    assert response.status_code == 303
    return response


def status_of_latest(app):
    with app.app_context():
        return db.session.scalars(db.select(AvatarUpload.status).order_by(AvatarUpload.id.desc()).limit(1)).first()


def worker_elsewhere(app_env, tmp_path):
    """The Procfile's worker-bulk (avatars) with a working directory of its own: it finds nothing web wrote."""
    elsewhere = tmp_path / "another-host"
    elsewhere.mkdir(exist_ok=True)
    return Process("worker-bulk", {**app_env, "PYTHONPATH": ROOT}, str(tmp_path), cwd=str(elsewhere)).start()


@pytest.mark.processes
def test_an_upload_waits_for_a_worker_and_one_on_another_host_processes_it(app, client, app_env, tmp_path,
                                                                           redis_server):
    verified_account(app)
    assert login(client).status_code == 303
    upload(client, pictures.phone_jpeg())
    with app.app_context():
        assert get_queue("avatars").count == 1  # no worker yet: the job waits in Redis, the upload in the database
    assert status_of_latest(app) == AvatarUpload.PENDING
    assert "being processed" in client.get("/account").get_data(as_text=True)
    worker = worker_elsewhere(app_env, tmp_path)
    try:
        wait_until(lambda: status_of_latest(app) == AvatarUpload.DONE, timeout=60, message="the avatar processed")
        src = re.search(r'src="(/avatars/[0-9a-f]{64}\.webp)"', client.get("/account").get_data(as_text=True)).group(1)
        served = Image.open(io.BytesIO(client.get(src).data))
        assert served.size == (128, 128)
        assert not served.getexif()
        assert "icc_profile" not in served.info
        green, red = served.convert("RGB").getpixel((120, 5)), served.convert("RGB").getpixel((5, 5))
        assert green[1] > 150 > green[0]
        assert red[0] > 150 > red[1]  # upright: orientation 6 applied

        upload(client, pictures.truncated_jpeg(), "broken.jpg")  # fails in the worker...
        wait_until(lambda: status_of_latest(app) == AvatarUpload.FAILED, timeout=60, message="the failure noted")
        assert "The picture is damaged or incomplete." in client.get("/account").get_data(as_text=True)
        upload(client, pictures.png(), "next.png")  # ...which goes on with the next one
        wait_until(lambda: status_of_latest(app) == AvatarUpload.DONE, timeout=60, message="the next one processed")
        assert worker.process.poll() is None
        assert FailedJobRegistry("avatars", connection=Redis.from_url(redis_server.url)).count == 1
    finally:
        worker.stop()


@pytest.mark.processes
def test_gunicorn_refuses_a_far_larger_upload_with_413_before_it_is_sent(app_env, tmp_path):
    port = free_port()
    env = {**app_env, "BASE_URL": f"http://127.0.0.1:{port}"}
    assert Process("release", env, str(tmp_path)).run() == 0
    web = Process("web", {**env, "PORT": str(port)}, str(tmp_path)).start()
    try:
        wait_until(lambda: port_open(port), timeout=30, message="web listening")
        answer = answer_before_the_body(port, "/account/avatar", "multipart/form-data; boundary=xyz", 500 * 1024 * 1024)
    finally:
        web.stop(timeout=10)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"Too much at once" in body
    assert b"at most 10 MB" in body


@pytest.mark.processes
def test_chromium_uploads_a_picture_and_sees_it_appear(app, app_env, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    verified_account(app)
    base, processes = start_site(app_env, str(tmp_path), ("web",))  # the worker comes after the upload
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(pictures.phone_jpeg())
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(base + "/auth/login")
                page.fill("input[name=login]", "alice")
                page.fill("input[name=password]", PASSWORD)
                page.press("input[name=password]", "Enter")
                expect(page).to_have_url(re.compile(r"/account$"))
                picture = page.locator("img[data-avatar-picture]")
                expect(picture).to_have_attribute("src", re.compile(r"^/avatars/default/AL/\d+-128\.png$"))
                assert picture.evaluate("img => img.complete && img.naturalWidth") in (128, 256)
                screenshots(page, shots, "account-avatar-default")
                page.set_input_files("input[name=avatar]", str(photo))
                page.get_by_role("button", name="Upload").click()
                expect(page.locator("[data-avatar-state]")).to_have_text(re.compile("being processed"))
                processes.append(worker_elsewhere(app_env, tmp_path))
                expect(picture).to_have_attribute("src", re.compile(r"^/avatars/[0-9a-f]{64}\.webp$"), timeout=60_000)
                expect(page.locator("[data-avatar-state]")).to_have_text("Your new picture is ready.")
                page.wait_for_load_state("networkidle")
                assert picture.evaluate("img => img.complete && img.naturalWidth") in (128, 256)
                page.reload()
                expect(picture).to_have_attribute("src", re.compile(r"^/avatars/[0-9a-f]{64}\.webp$"))
                screenshots(page, shots, "account-avatar")
            finally:
                browser.close()
    finally:
        for process in processes:
            process.stop()
    assert sorted(os.listdir(shots)) == sorted(f"account-avatar{kind}-{width}.png" for kind in ("", "-default")
                                               for width in (360, 1280))


def screenshots(page, folder, name):
    """docs/screenshots/ holds copies of these (taken by this test, then looked at)."""
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
