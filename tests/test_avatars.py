"""Avatars in-process: the form's cheap checks, the job through a real RQ worker, serving, defaults, deletion."""
import io
import re

import pytest
from PIL import Image
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

from app.extensions import db
from app.models import AvatarPicture, AvatarUpload
from app.queues import get_queue
from jobs import backup
from tests import pictures
from tests.helpers import PASSWORD, form_page, login, make_admin, post_form, register_verified

FOREVER = "public, max-age=31536000, immutable"


@pytest.fixture
def account(app, client, run_jobs, mailbox):
    """A logged-in client of a verified account "alice"."""
    register_verified(client, run_jobs, mailbox)
    assert login(client).status_code == 303
    return client


def upload(client, data, filename="me.jpg", **extra):
    fields = {**form_page(client, "/account"), "avatar": (io.BytesIO(data), filename), **extra}
    return client.post("/account/avatar", data=fields, content_type="multipart/form-data")


def latest(app):
    with app.app_context():
        return db.session.scalar(select(AvatarUpload).order_by(AvatarUpload.id.desc()).limit(1))


def stored(app):
    with app.app_context():
        return {size: digest for size, digest in db.session.execute(select(AvatarPicture.size, AvatarPicture.digest))}


def picture_urls(page):
    return re.findall(r'src="(/avatars/[^"]+)"', page)


def test_a_phone_photo_becomes_an_upright_square_without_metadata(app, account, run_jobs):
    response = upload(account, pictures.phone_jpeg())
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert latest(app).status == AvatarUpload.PENDING
    assert latest(app).data is not None
    page = account.get("/account").get_data(as_text=True)
    assert "being processed" in page
    assert "/avatars/default/AL/" in page  # the default stays until it is done
    run_jobs()
    assert latest(app).status == AvatarUpload.DONE
    assert latest(app).data is None  # the raw upload is gone
    sizes = stored(app)
    assert sorted(sizes) == [64, 128, 256]
    page = account.get("/account").get_data(as_text=True)
    assert "being processed" not in page
    assert f"/avatars/{sizes[128]}.webp" in picture_urls(page)
    response = account.get(f"/avatars/{sizes[256]}.webp")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["Cache-Control"] == FOREVER
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    served = Image.open(io.BytesIO(response.data))
    assert served.format == "WEBP"
    assert served.size == (256, 256)
    assert not served.getexif()
    assert "icc_profile" not in served.info
    assert "xmp" not in served.info
    assert b"Phone" not in response.data
    assert b"Exif" not in response.data
    rgb = served.convert("RGB")  # stored sideways with orientation 6: green is top-right once upright
    assert _near(rgb.getpixel((240, 15)), pictures.GREEN)
    assert _near(rgb.getpixel((15, 15)), pictures.RED)
    assert _near(rgb.getpixel((15, 240)), pictures.RED)
    assert _near(rgb.getpixel((240, 240)), pictures.RED)


def _near(pixel, colour, tolerance=24):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def test_an_animated_gif_keeps_its_first_frame(app, account, run_jobs):
    assert upload(account, pictures.animated_gif(), "moving.gif").status_code == 303
    run_jobs()
    served = Image.open(io.BytesIO(account.get(f"/avatars/{stored(app)[64]}.webp").data))
    assert getattr(served, "n_frames", 1) == 1
    assert _near(served.convert("RGB").getpixel((32, 32)), pictures.GREEN)


@pytest.mark.parametrize("data, filename", [(pictures.NOT_A_PICTURE, "notes.txt"),
                                            (pictures.SVG_AS_PNG, "me.png"), (pictures.HTML_AS_PNG, "me.png"),
                                            (b"", "empty.png")])
def test_files_that_are_not_pictures_are_refused_by_the_request(app, account, data, filename):
    response = upload(account, data, filename)
    assert response.status_code == 400
    assert "This file is not a JPEG, PNG, WebP or GIF picture." in response.get_data(as_text=True)
    with app.app_context():
        assert latest(app) is None
        assert get_queue("avatars").count == 0


def test_the_form_without_a_file_says_so(app, account):
    response = account.post("/account/avatar", data=form_page(account, "/account"), content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a picture to upload." in response.get_data(as_text=True)


@pytest.mark.parametrize("data, reason", [
    (pictures.truncated_jpeg(), "The picture is damaged or incomplete."),
    (pictures.png_bomb(), "The picture has too many pixels"),
    (pictures.png_bomb(10000, 10000), "The picture has too many pixels"),
])
def test_a_picture_the_worker_cannot_use_fails_with_its_reason_and_the_last_good_one_stays(
        app, account, run_jobs, redis_server, data, reason):
    assert upload(account, pictures.png()).status_code == 303
    run_jobs()
    good = stored(app)
    assert upload(account, data, "bad.png").status_code == 303
    run_jobs()
    assert latest(app).status == AvatarUpload.FAILED
    assert latest(app).data is None
    page = account.get("/account").get_data(as_text=True)
    assert "Your last upload could not be used" in page
    assert reason in page
    assert stored(app) == good
    assert f"/avatars/{good[128]}.webp" in picture_urls(page)
    registry = FailedJobRegistry("avatars", connection=Redis.from_url(redis_server.url))
    [job] = registry.get_job_ids()  # what the operator's dashboard lists, with a readable error
    assert "jobs.avatar.BadPicture" in Job.fetch(job, connection=registry.connection).latest_result().exc_string
    assert upload(account, pictures.animated_gif(), "next.gif").status_code == 303
    run_jobs()  # and the next picture is processed as usual
    assert latest(app).status == AvatarUpload.DONE
    assert stored(app) != good


def test_no_login_no_upload(app, client):
    fields = {**form_page(client, "/auth/login"), "avatar": (io.BytesIO(pictures.png()), "me.png")}  # a valid token
    response = client.post("/account/avatar", data=fields, content_type="multipart/form-data")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    assert latest(app) is None


def test_no_csrf_token_no_upload(make_app, mailbox):
    app = make_app()
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    response = client.post("/account/avatar", data={"avatar": (io.BytesIO(pictures.png()), "me.png")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert latest(app) is None


def test_a_file_over_avatar_max_bytes_gets_a_readable_413(make_app, run_jobs, mailbox):
    app = make_app(AVATAR_MAX_BYTES="20000")
    client = app.test_client()
    register_verified(client, run_jobs, mailbox)
    login(client)
    just_over = pictures.png() + b"\0" * 20000  # the body fits the form's allowance; the file does not
    far_over = pictures.png() + b"\0" * 2_000_000  # refused from Content-Length, before the body is read
    for data in (just_over, far_over):
        response = upload(client, data, "big.png")
        assert response.status_code == 413
        page = response.get_data(as_text=True)
        assert "Too much at once" in page
        assert "at most 0" in page
        assert "Traceback" not in page
    assert latest(app) is None


def test_the_default_picture_is_drawn_initials_on_a_colour_of_the_account(app, account):
    page = account.get("/account").get_data(as_text=True)
    src = picture_urls(page)[0]
    assert re.fullmatch(r"/avatars/default/AL/\d+-128\.png", src)
    response = account.get(src)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Cache-Control"] == FOREVER
    drawn = Image.open(io.BytesIO(response.data))
    assert drawn.format == "PNG"
    assert drawn.size == (128, 128)
    assert len(drawn.convert("RGB").getcolors(maxcolors=128 * 128)) > 2  # a background and the letters over it
    assert account.get("/avatars/default/<script>/1-128.png").status_code == 404
    assert account.get("/avatars/default/AL/1-100000.png").status_code == 404


def test_removing_the_picture_goes_back_to_the_default(app, account, run_jobs):
    upload(account, pictures.png())
    run_jobs()
    digest = stored(app)[128]
    response = account.post("/account/avatar/remove", data=form_page(account, "/account"))
    assert response.status_code == 303
    assert stored(app) == {}
    assert account.get(f"/avatars/{digest}.webp").status_code == 404
    assert "/avatars/default/AL/" in account.get("/account").get_data(as_text=True)


def test_deleting_the_account_removes_the_avatar(app, account, run_jobs):
    upload(account, pictures.png())
    run_jobs()
    digest = stored(app)[128]
    upload(account, pictures.png(colour=(1, 2, 3)))  # and an upload still waiting for the worker
    assert post_form(account, "/account/delete", current_password=PASSWORD).status_code == 303
    with app.app_context():
        left = [db.session.scalar(select(func.count()).select_from(table)) for table in (AvatarPicture, AvatarUpload)]
    assert left == [0, 0]
    assert account.get(f"/avatars/{digest}.webp").status_code == 404
    run_jobs()  # the queued job finds nothing to do
    assert stored(app) == {}


def test_the_status_answers_what_the_page_shows(app, account, run_jobs):
    assert account.get("/account/avatar/status").get_json()["state"] == "none"
    upload(account, pictures.png())
    state = account.get("/account/avatar/status")
    assert state.headers["Cache-Control"] == "no-store"
    assert state.get_json()["state"] == "pending"
    run_jobs()
    state = account.get("/account/avatar/status").get_json()
    assert state["state"] == "done"
    assert state["src"] == f"/avatars/{stored(app)[128]}.webp"
    assert state["srcset"].endswith(f"/avatars/{stored(app)[256]}.webp 2x")


def test_uploads_are_limited_per_account(make_app, run_jobs, mailbox):
    app = make_app(RATELIMIT_AVATAR_PER_USER="2 per hour")
    client = app.test_client()
    register_verified(client, run_jobs, mailbox)
    login(client)
    statuses = [upload(client, pictures.png()).status_code for _ in range(3)]
    assert statuses == [303, 303, 429]


def test_the_admin_list_shows_avatars(app, account, run_jobs):
    upload(account, pictures.png())
    run_jobs()
    make_admin(app)
    page = account.get("/admin/users").get_data(as_text=True)
    assert f"/avatars/{stored(app)[64]}.webp" in picture_urls(page)


@pytest.mark.processes  # on PostgreSQL, backup and restore run pg_dump and pg_restore
def test_backups_include_the_avatars(app, account, run_jobs, make_app, new_database):
    upload(account, pictures.png())
    run_jobs()
    digest = stored(app)[128]
    with app.app_context():
        path = backup.run()
        db.session.remove()
        db.engine.dispose()
    fresh = make_app(DATABASE_URL=new_database("fresh"))
    result = fresh.test_cli_runner().invoke(args=["backup", "restore", "--yes", path])
    assert result.exit_code == 0, result.output
    assert fresh.test_client().get(f"/avatars/{digest}.webp").data == account.get(f"/avatars/{digest}.webp").data
