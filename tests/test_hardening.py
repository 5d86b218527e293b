"""Against the Procfile's gunicorn web process: no X-Forwarded-For bypass, no token in the access log, an early 413.
In-process: usernames matched whole, addresses found whatever their case, beyond ASCII too."""

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import User, utcnow
from tests.helpers import (
    PASSWORD,
    Visitor,
    answer_before_the_body,
    hidden_inputs,
    login,
    outbox,
    post_form,
    register,
    users,
)
from tests.services import Process, free_port, port_open, wait_until

TOKEN = "eyJ1IjoxLCJwIjoiYWJjZGVmIn0.Zz9Qxw.c2VjcmV0LXNpZ25hdHVyZS1oZXJl"


@pytest.fixture
def limited_web(app_env, tmp_path):
    """release, then the Procfile's web line (gunicorn), with small limits the tests can reach."""
    port = free_port()
    env = {**app_env, "BASE_URL": f"http://127.0.0.1:{port}", "RATELIMIT_LOGIN_PER_ADDRESS": "2 per hour"}
    assert Process("release", env, str(tmp_path)).run() == 0
    process = Process("web", {**env, "PORT": str(port)}, str(tmp_path)).start()
    try:
        wait_until(lambda: port_open(port), timeout=30, message="web listening")
        yield f"http://127.0.0.1:{port}", port, process
    finally:
        process.stop(timeout=10)


@pytest.mark.processes
def test_x_forwarded_for_does_not_bypass_a_limit_on_gunicorn(limited_web):
    base, _, _ = limited_web
    statuses = []
    for n in range(4):
        visitor = Visitor(base)  # a new browser each time, and a new invented address
        _, _, page = visitor.request("/auth/login")
        status, headers, text = visitor.request("/auth/login", {**hidden_inputs(page), "login": "alice",
                                                                "password": "wrong password here"},
                                                headers={"X-Forwarded-For": f"203.0.113.{n}",
                                                         "X-Real-IP": f"203.0.113.{n}"})
        statuses.append(status)
    assert statuses == [400, 400, 429, 429]
    assert int(headers["Retry-After"]) > 0
    assert "Too many attempts" in text


@pytest.mark.processes
def test_access_log_shows_the_route_not_the_token(limited_web):
    base, _, process = limited_web
    visitor = Visitor(base)
    for path in (f"/auth/verify/{TOKEN}", f"/auth/reset/{TOKEN}?from=mail"):
        assert visitor.request(path, headers={"Referer": f"{base}/auth/reset/{TOKEN}"})[0] == 400
    log = wait_until(lambda: (text := process.log()).count("<token>") >= 4 and text, timeout=30,
                     message="both requests in the access log")
    assert TOKEN not in log
    assert TOKEN[:20] not in log
    assert '"GET /auth/verify/<token> HTTP/1.1" 400' in log
    assert "/auth/reset/<token>?from=mail" in log


@pytest.mark.processes
def test_a_20_mb_body_is_refused_with_413_before_it_is_sent(limited_web):
    """Only the headers and 64 KB are sent: the answer must come without waiting for the other 20 MB."""
    _, port, _ = limited_web
    answer = answer_before_the_body(port, "/auth/register", "application/x-www-form-urlencoded", 20 * 1024 * 1024)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"Too much at once" in body
    assert b"Content-Security-Policy:" in head


@pytest.mark.parametrize("username", ["admin\n", "admin\r\n", "ad min", "admin\u200b"])
def test_usernames_are_matched_whole(app, client, username):
    response = register(client, username=username)
    assert response.status_code == 400
    assert "Use only letters, digits, _ and -." in response.get_data(as_text=True)
    assert users(app) == []


def test_addresses_are_found_whatever_their_case_beyond_ascii(app, client):
    """SQLite's lower() folds only ASCII, so the forms store addresses lower-cased in Python."""
    assert register(client, username="elodie", email="ÉLODIE.Ørsted@Example.com").status_code == 303
    assert [u.email for u in users(app)] == ["élodie.ørsted@example.com"]
    resend = post_form(app.test_client(), "/auth/resend", email="Élodie.ØRSTED@example.com")
    assert resend.status_code == 303
    assert [row.kind for row in outbox(app)] == ["verify", "verify"]  # found
    assert register(app.test_client(), username="other", email="élodie.ØRSTED@EXAMPLE.com").status_code == 303
    assert len(users(app)) == 1  # the same account (taken over while unverified), not a second one
    with app.app_context():
        db.session.execute(update(User).values(verified_at=utcnow()))
        db.session.commit()
    assert login(app.test_client(), "ÉLODIE.ørsted@example.com", PASSWORD).status_code == 303
