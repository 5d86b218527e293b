"""The image captcha: PNG drawing, single-use answers in Redis, test mode, and failing closed without Redis."""
import io
import random
import re

from PIL import Image
from redis import Redis
from sqlalchemy import func, select

from app.captcha import image
from app.extensions import db
from app.models import Event, User
from tests.helpers import hidden_inputs
from tests.services import free_port

FIELDS = {"username": "alice", "email": "alice@example.com", "password": "correct horse battery",
          "confirm": "correct horse battery"}


def challenge(client):
    page = client.get("/auth/register").get_data(as_text=True)
    return hidden_inputs(page)


def stored_answer(redis_server, challenge_id):
    return Redis.from_url(redis_server.url).get(f"captcha:{challenge_id}").decode()


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_image_is_a_png_that_is_never_cached(client):
    challenge_id = challenge(client)["captcha_id"]
    response = client.get(f"/captcha/{challenge_id}.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Cache-Control"] == "no-store"
    picture = Image.open(io.BytesIO(response.data))
    assert picture.format == "PNG"
    assert picture.size == (image.WIDTH, image.HEIGHT)
    assert client.get(f"/captcha/{challenge_id}.png").data == response.data  # same id, same picture


def test_answer_and_decoy_inks_look_alike_in_grayscale():
    for answer_ink, decoy_ink in image.INKS:
        answer, decoy = (Image.new("RGB", (1, 1), ink).convert("L").getpixel((0, 0)) for ink in (answer_ink, decoy_ink))
        assert abs(answer - decoy) <= 1
        assert answer_ink != decoy_ink


def test_each_picture_slips_two_or_three_decoys_among_the_answer_in_order():
    for seed in range(50):
        slots = image.layout("ACE47", random.Random(seed))
        assert "".join(char for char, decoy in slots if not decoy) == "ACE47"
        assert 2 <= sum(decoy for _, decoy in slots) <= 3


def test_unknown_or_expired_image_is_a_404(client):
    assert client.get("/captcha/no-such-id.png").status_code == 404


def test_answers_use_no_confusable_characters(redis_server, client):
    assert not set("0O1lIi") & set(image.ALPHABET)
    answer = stored_answer(redis_server, challenge(client)["captcha_id"])
    assert len(answer) == 5
    assert set(answer) <= set(image.ALPHABET)


def test_answer_expires_after_the_configured_ttl(redis_server, client):
    challenge_id = challenge(client)["captcha_id"]
    assert 290 <= Redis.from_url(redis_server.url).ttl(f"captcha:{challenge_id}") <= 300


def test_real_answer_works_once_and_case_insensitively(make_app, redis_server, mailbox):
    app = make_app(CAPTCHA_TEST_MODE="false")
    client = app.test_client()
    fields = challenge(client)
    answer = stored_answer(redis_server, fields["captcha_id"])
    response = client.post("/auth/register", data={**fields, **FIELDS, "captcha": f" {answer.lower()} "})
    assert response.status_code == 303
    assert count(app, User) == 1
    # The same id and answer again (a replayed form) fail: the answer was deleted when checked.
    replay = client.post("/auth/register", data={**fields, **FIELDS, "username": "bob", "email": "bob@example.com",
                                                 "captcha": answer})
    assert replay.status_code == 400
    assert count(app, User) == 1


def test_a_wrong_answer_consumes_the_challenge(make_app, redis_server):
    app = make_app(CAPTCHA_TEST_MODE="false")
    client = app.test_client()
    fields = challenge(client)
    answer = stored_answer(redis_server, fields["captcha_id"])
    first = client.post("/auth/register", data={**fields, **FIELDS, "captcha": "XXXXX"})
    assert first.status_code == 400
    assert hidden_inputs(first.get_data(as_text=True))["captcha_id"] != fields["captcha_id"]  # a new picture
    second = client.post("/auth/register", data={**fields, **FIELDS, "captcha": answer})
    assert second.status_code == 400
    assert count(app, User) == 0
    assert count(app, Event, Event.kind == Event.CAPTCHA_FAILED) == 2


def test_test_mode_word_only_counts_in_test_mode(make_app):
    strict = make_app(CAPTCHA_TEST_MODE="false")
    client = strict.test_client()
    assert client.post("/auth/register", data={**challenge(client), **FIELDS, "captcha": "PASSED"}).status_code == 400
    relaxed = make_app(CAPTCHA_TEST_MODE="true")
    client = relaxed.test_client()
    assert client.post("/auth/register", data={**challenge(client), **FIELDS, "captcha": "PASSE"}).status_code == 400
    assert client.post("/auth/register", data={**challenge(client), **FIELDS, "captcha": "passed"}).status_code == 303


def test_new_picture_button_keeps_what_was_typed(app, redis_server, client):
    fields = challenge(client)
    response = client.post("/auth/register", data={**fields, **FIELDS, "new_captcha": "1", "captcha": "AB"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="alice"' in page
    assert 'value="alice@example.com"' in page
    assert "correct horse battery" not in page
    assert 'class="error"' not in page
    assert hidden_inputs(page)["captcha_id"] != fields["captcha_id"]
    assert not Redis.from_url(redis_server.url).exists(f"captcha:{fields['captcha_id']}")
    assert count(app, User) == 0
    # The cursor goes to the captcha, the one field left to fill, and only for this rendering.
    assert re.search(r'<input[^>]*autofocus[^>]*name="captcha"', page)
    assert not re.search(r'<input[^>]*autofocus[^>]*name="username"', page)
    fresh = client.get("/auth/register").get_data(as_text=True)
    assert re.search(r'<input[^>]*autofocus[^>]*name="username"', fresh)
    assert not re.search(r'<input[^>]*autofocus[^>]*name="captcha"', fresh)


def test_redis_down_fails_closed_with_a_friendly_503(make_app):
    down = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    client = down.test_client()
    page = client.get("/auth/register")
    assert page.status_code == 503
    assert "try again" in page.get_data(as_text=True)
    fields = {**hidden_inputs(page.get_data(as_text=True)), "captcha_id": "some-id"}
    response = client.post("/auth/register", data={**fields, **FIELDS, "captcha": "PASSED"})
    text = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "try again shortly" in text
    assert 'value="alice"' in text
    assert 'value="alice@example.com"' in text
    assert "correct horse" not in text
    assert count(down, User) == 0
    assert client.get(f"/captcha/{fields['captcha_id']}.png").status_code == 503

