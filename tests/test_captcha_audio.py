"""The captcha's audio alternative and the in-place new challenge: WAV that decodes, one answer for eye and ear."""
import io
import math
import wave
from array import array

import pytest
from redis import Redis

from app.captcha import audio, image
from tests.helpers import hidden_inputs
from tests.services import free_port

FIELDS = {"username": "alice", "email": "alice@example.com", "password": "correct horse battery",
          "confirm": "correct horse battery"}


def challenge(client):
    return hidden_inputs(client.get("/auth/register").get_data(as_text=True))


def decode(wav):
    """(seconds, samples) of a mono 16-bit WAV, read with the standard library as any player would."""
    with wave.open(io.BytesIO(wav)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
        return reader.getnframes() / reader.getframerate(), array("h", reader.readframes(reader.getnframes()))


def spoken_bursts(samples, rate=audio.RATE):
    """Stretches of speech (20 ms windows well above the noise) separated by at least 0.3 s of noise alone."""
    window = rate // 50
    count, quiet = 0, 15
    for start in range(0, len(samples) - window, window):
        chunk = samples[start:start + window]
        if math.sqrt(sum(v * v for v in chunk) / window) > 2500:
            count += quiet >= 15
            quiet = 0
        else:
            quiet += 1
    return count


def test_audio_is_a_wav_of_plausible_length_that_is_never_cached(client):
    challenge_id = challenge(client)["captcha_id"]
    response = client.get(f"/captcha/{challenge_id}.wav")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert response.headers["Cache-Control"] == "no-store"
    seconds, samples = decode(response.data)
    assert 2 <= seconds <= 20
    assert spoken_bursts(samples) == image.LENGTH  # one character at a time, with pauses to type along


def test_audio_says_the_answer_the_picture_shows(redis_server, client):
    challenge_id = challenge(client)["captcha_id"]
    answer = Redis.from_url(redis_server.url).get(f"captcha:{challenge_id}").decode()
    # Same process, same seed: the route's sound is exactly the stored answer spoken.
    assert client.get(f"/captcha/{challenge_id}.wav").data == audio.speak(answer, "en", seed=challenge_id)


@pytest.mark.parametrize("language", sorted(audio.VOICES))
def test_every_character_is_spoken_in_every_language(language):
    for start in range(0, len(image.ALPHABET), 6):
        text = image.ALPHABET[start:start + 6]
        seconds, samples = decode(audio.speak(text, language, seed=text))
        assert spoken_bursts(samples) == len(text), (language, text)
        assert seconds <= 20


def test_chinese_voice_renders_and_differs_from_english(client):
    challenge_id = challenge(client)["captcha_id"]
    chinese = client.get(f"/captcha/{challenge_id}.wav?lang=zh")
    assert chinese.status_code == 200
    assert 2 <= decode(chinese.data)[0] <= 20
    assert chinese.data != client.get(f"/captcha/{challenge_id}.wav").data
    assert client.get(f"/captcha/{challenge_id}.wav?lang=xx").status_code == 404


def test_picture_and_audio_share_one_single_use_answer(make_app, redis_server, mailbox):
    app = make_app(CAPTCHA_TEST_MODE="false")
    client = app.test_client()
    fields = challenge(client)
    challenge_id = fields["captcha_id"]
    assert client.get(f"/captcha/{challenge_id}.wav").status_code == 200
    answer = Redis.from_url(redis_server.url).get(f"captcha:{challenge_id}").decode()
    response = client.post("/auth/register", data={**fields, **FIELDS, "captcha": answer})
    assert response.status_code == 303
    assert client.get(f"/captcha/{challenge_id}.wav").status_code == 404
    assert client.get(f"/captcha/{challenge_id}.png").status_code == 404


def test_unknown_audio_is_a_404_and_audio_without_redis_a_503(make_app, client):
    assert client.get("/captcha/no-such-id.wav").status_code == 404
    down = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()
    assert down.get("/captcha/some-id.wav").status_code == 503


def test_new_challenge_replaces_the_previous_one(redis_server, client):
    fields = challenge(client)
    response = client.post("/captcha/new", data={"previous": fields["captcha_id"]},
                           headers={"X-CSRFToken": fields["csrf_token"]})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    fresh = response.get_json()
    redis = Redis.from_url(redis_server.url)
    assert redis.exists(f"captcha:{fresh['id']}")
    assert not redis.exists(f"captcha:{fields['captcha_id']}")
    assert fresh["picture"] == f"/captcha/{fresh['id']}.png"
    assert fresh["audio"] == f"/captcha/{fresh['id']}.wav?lang=en"
    assert client.get(fresh["picture"]).status_code == 200


def test_new_challenge_needs_the_csrf_token_and_a_post(client):
    challenge(client)
    assert client.post("/captcha/new").status_code == 400
    assert client.get("/captcha/new").status_code == 405


def test_new_challenge_without_redis_is_a_503_in_json(make_app):
    down = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()
    fields = hidden_inputs(down.get("/auth/register").get_data(as_text=True))
    response = down.post("/captcha/new", headers={"X-CSRFToken": fields["csrf_token"]})
    assert response.status_code == 503
    assert "try again" in response.get_json()["error"]
