"""Abuse limits through the real forms and Redis: 429 with Retry-After per address and per mailbox or account,
the progressive login captcha, the per-recipient mail cap, X-Forwarded-For, RATELIMIT_ENABLED and Redis down."""
import pytest
from redis import Redis

import config
from app import create_app
from app.accounts import passwords
from app.extensions import db
from app.models import OutboxMail, User, utcnow
from tests.helpers import (
    PASSWORD,
    deliver,
    form_page,
    hidden_inputs,
    link_in,
    login,
    outbox,
    post_form,
    register,
    register_verified,
)
from tests.services import free_port

TWO = "2 per hour"


def client_from(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def assert_limited(response):
    """A readable 429 page that says when to come back."""
    text = response.get_data(as_text=True)
    assert response.status_code == 429, response.status_code
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert "Too many attempts" in text
    assert "try again in" in text


def attempt(endpoint, client, n):
    """One POST to a limited form, with a different address each time unless the test wants the same."""
    email = f"user{n}@example.com"
    if endpoint == "register":
        return register(client, username=f"user{n}", email=email)
    if endpoint == "login":
        return login(client, f"user{n}", "wrong password here")
    if endpoint == "verify-code":
        return guess_code(client, email)
    return post_form(client, f"/auth/{endpoint}", email=email)


def guess_code(client, email):
    return client.post("/auth/verify-code", data={**form_page(client, "/auth/check-email"), "email": email,
                                                  "code": "000000"})


ENDPOINTS = {"login": "LOGIN", "register": "REGISTER", "resend": "RESEND", "forgot": "FORGOT",
             "verify-code": "CODE"}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_each_form_is_limited_per_client_address(make_app, endpoint):
    app = make_app(**{f"RATELIMIT_{ENDPOINTS[endpoint]}_PER_ADDRESS": TWO})
    client = client_from(app, "10.0.0.1")
    assert 429 not in [attempt(endpoint, client, n).status_code for n in range(2)]
    assert_limited(attempt(endpoint, client, 2))
    assert attempt(endpoint, client_from(app, "10.0.0.2"), 3).status_code != 429  # another address: its own
    assert client.get(f"/auth/{endpoint}" if endpoint != "verify-code" else "/auth/check-email").status_code == 200


@pytest.mark.parametrize("endpoint", ["register", "resend", "forgot", "verify-code"])
def test_each_mailing_form_is_limited_per_mailbox_whatever_its_spelling(make_app, endpoint):
    app = make_app(**{f"RATELIMIT_{ENDPOINTS[endpoint]}_PER_EMAIL": TWO})
    spellings = ["bob.smith@gmail.com", "Bob.Smith+promo@GMAIL.com", "bobsmith@googlemail.com"]
    answers = []
    for n, email in enumerate(spellings):
        client = client_from(app, f"10.0.1.{n}")  # a new address each time: only the mailbox is common
        if endpoint == "register":
            answers.append(register(client, username=f"bob{n}", email=email))
        elif endpoint == "verify-code":
            answers.append(guess_code(client, email))
        else:
            answers.append(post_form(client, f"/auth/{endpoint}", email=email))
    assert 429 not in [a.status_code for a in answers[:2]]
    assert_limited(answers[2])
    other = post_form(client_from(app, "10.0.1.9"), "/auth/forgot", email="carol@example.com")
    assert other.status_code == 303


def test_new_picture_button_spends_nothing_and_tries_nothing(make_app, mailbox, run_jobs):
    app = make_app(RATELIMIT_REGISTER_PER_ADDRESS=TWO, RATELIMIT_LOGIN_PER_ADDRESS=TWO)
    client = app.test_client()
    for _ in range(3):
        assert post_form(client, "/auth/register", username="x", new_captcha="1").status_code == 200
    register_verified(client, run_jobs, mailbox)
    for _ in range(3):  # the limit lets it pass, so it must never try a password
        assert login(client, "alice", PASSWORD, new_captcha="1").status_code == 200
    assert client.get("/account").status_code == 302
    assert login(client, "alice", PASSWORD).status_code == 303


def test_captcha_pictures_are_limited_per_address(make_app):
    app = make_app(RATELIMIT_CAPTCHA_PER_ADDRESS="3 per minute")
    client = app.test_client()
    challenge = hidden_inputs(client.get("/auth/register").get_data(as_text=True))["captcha_id"]
    assert [client.get(f"/captcha/{challenge}.png").status_code for _ in range(3)] == [200] * 3
    refused = client.get(f"/captcha/{challenge}.png")
    assert_limited(refused)
    assert refused.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert client_from(app, "10.0.2.1").get(f"/captcha/{challenge}.png").status_code == 200


def captcha_asked(response):
    return 'name="captcha"' in response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["alice", "nobody"])
def test_failed_logins_bring_in_the_captcha_then_a_429_the_same_for_unknown_names(make_app, mailbox, run_jobs,
                                                                                  name):
    app = make_app(RATELIMIT_LOGIN_CAPTCHA_AFTER=TWO, RATELIMIT_LOGIN_PER_ACCOUNT="4 per hour")
    register_verified(app.test_client(), run_jobs, mailbox)
    client = app.test_client()
    assert not captcha_asked(client.get("/auth/login"))
    first, second = (login(client, name, "wrong password here") for _ in range(2))
    assert (first.status_code, captcha_asked(first)) == (400, False)
    assert (second.status_code, captcha_asked(second)) == (400, True)  # the failure that brings it in
    assert "Wrong email, username or password." in second.get_data(as_text=True)
    without = login(client, name.upper(), "wrong password here")  # no picture typed: the password is not tried
    assert without.status_code == 400
    assert ("Type the characters in the picture as well." in without.get_data(
        as_text=True))
    for _ in range(2):  # the captcha passed (CAPTCHA_TEST_MODE), the password wrong: these count
        assert login(client, name, "wrong password here", captcha="PASSED").status_code == 400
    assert_limited(login(client, name, PASSWORD, captcha="PASSED"))  # locked for the window, even the owner
    other = app.test_client()
    register_verified(other, run_jobs, mailbox, username="carol", email="carol@example.com")
    assert login(other, "carol").status_code == 303  # every account has its own counter


def test_the_owner_passes_the_captcha_and_logs_in(make_app, mailbox, run_jobs, redis_server):
    redis_url = redis_server.url
    app = make_app(RATELIMIT_LOGIN_CAPTCHA_AFTER=TWO)
    client = app.test_client()
    register_verified(client, run_jobs, mailbox)
    for name in ("alice", "Alice"):  # one name, whatever its case
        page = login(client, name, "wrong password here").get_data(as_text=True)
    assert not captcha_asked(client.get("/auth/login"))  # a GET names no account
    fields = hidden_inputs(page)  # the page as the person sees it, with its picture
    wrong_picture = client.post("/auth/login", data={**fields, "login": "alice", "password": PASSWORD,
                                                     "captcha": "WRONG"})
    text = wrong_picture.get_data(as_text=True)
    assert wrong_picture.status_code == 400
    assert "That was not it" in text
    assert 'value="alice"' in text
    fields = hidden_inputs(text)
    assert fields["captcha_id"]  # a new picture for the next try
    answer = Redis.from_url(redis_url).get(f"captcha:{fields['captcha_id']}").decode()
    right = client.post("/auth/login", data={**fields, "login": "alice", "password": PASSWORD, "captcha": answer})
    assert right.status_code == 303


def test_a_password_reset_clears_the_failed_logins(make_app, mailbox, run_jobs):
    app = make_app(RATELIMIT_LOGIN_CAPTCHA_AFTER=TWO, RATELIMIT_LOGIN_PER_ACCOUNT="3 per hour")
    client = app.test_client()
    register_verified(client, run_jobs, mailbox)
    for captcha in ("", "", "PASSED"):
        login(client, "alice", "wrong password here", captcha=captcha)
    assert login(client, "alice", PASSWORD, captcha="PASSED").status_code == 429
    mailbox.reset()
    assert post_form(client, "/auth/forgot", email="alice@example.com").status_code == 303
    path = link_in(deliver(run_jobs, mailbox)[0])
    fields = hidden_inputs(client.get(path).get_data(as_text=True))
    new = "a brand new passphrase"
    assert client.post(path, data={**fields, "password": new, "confirm": new}).status_code == 303
    fresh = login(client, "alice", "wrong password here")
    assert fresh.status_code == 400
    assert not captcha_asked(fresh)  # the counter starts again from zero
    assert login(client, "alice", new).status_code == 303


def test_a_mailbox_gets_at_most_its_mails_per_hour_whatever_asks(make_app, mailbox, run_jobs):
    app = make_app(RATELIMIT_MAIL_PER_RECIPIENT=TWO)
    register(client_from(app, "10.0.3.1"))  # verification mail: 1
    post_form(client_from(app, "10.0.3.2"), "/auth/resend", email="alice@example.com")  # 2
    post_form(client_from(app, "10.0.3.3"), "/auth/resend", email="ALICE+x@example.com")  # no account: none
    register(client_from(app, "10.0.3.4"), username="mallory", password="another long secret")  # takeover: dropped
    assert post_form(client_from(app, "10.0.3.5"), "/auth/resend", email="alice@example.com").status_code == 303
    deliver(run_jobs, mailbox, count=2)
    run_jobs()
    assert [m.recipients for m in mailbox.messages] == [["alice@example.com"]] * 2
    assert [row.status for row in outbox(app)] == [OutboxMail.SENT] * 2 + [OutboxMail.DROPPED] * 2
    register(client_from(app, "10.0.3.6"), username="dave", email="dave@example.com")  # other mailboxes: theirs
    deliver(run_jobs, mailbox, count=3)


@pytest.mark.parametrize("proxies,expected", [("0", [400, 400, 429]), ("1", [400, 400, 400])])
def test_x_forwarded_for_counts_only_behind_trusted_proxies(make_app, proxies, expected):
    """With 0, a client inventing X-Forwarded-For values stays one address; with 1, the proxy's entry counts."""
    app = make_app(RATELIMIT_LOGIN_PER_ADDRESS=TWO, TRUSTED_PROXIES=proxies)
    client = app.test_client()
    statuses = []
    for n in range(3):
        fields = {**form_page(client, "/auth/login"), "login": "alice", "password": "wrong password here"}
        statuses.append(client.post("/auth/login", data=fields,
                                    headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code)
    assert statuses == expected
    if proxies == "1":  # only the entry the proxy appended is believed, not the ones the client sent
        for n in range(3):
            fields = {**form_page(client, "/auth/login"), "login": "alice", "password": "wrong password here"}
            spoofed = client.post("/auth/login", data=fields,
                                  headers={"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.0"})
        assert spoofed.status_code == 429


def test_ratelimit_enabled_false_switches_every_limit_off(make_app, mailbox, run_jobs):
    app = make_app(RATELIMIT_ENABLED="false", RATELIMIT_LOGIN_PER_ADDRESS=TWO, RATELIMIT_LOGIN_CAPTCHA_AFTER=TWO,
                   RATELIMIT_MAIL_PER_RECIPIENT="1 per hour")
    client = app.test_client()
    register_verified(client, run_jobs, mailbox)
    answers = [login(client, "alice", "wrong password here") for _ in range(4)]
    assert [a.status_code for a in answers] == [400] * 4
    assert not any(captcha_asked(a) for a in answers)
    post_form(client, "/auth/resend", email="alice@example.com")
    post_form(client, "/auth/forgot", email="alice@example.com")
    assert len(deliver(run_jobs, mailbox, count=2)) == 2


def test_with_redis_down_limits_count_in_memory_and_the_captcha_fails_closed(make_app):
    """Documented choice: Flask-Limiter's in-memory fallback (per process) keeps limiting; sign-up answers 503."""
    down = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", RATELIMIT_LOGIN_PER_ADDRESS="3 per hour",
                    RATELIMIT_RESET_MAIL_PER_RECIPIENT="1 per hour")
    with down.app_context():
        db.session.add(User(username="alice", email="alice@example.com", verified_at=utcnow(),
                            password_hash=passwords.hash_password(PASSWORD)))
        db.session.commit()
    client = down.test_client()
    statuses = [login(client, "alice", "wrong password here").status_code for _ in range(2)]
    assert statuses + [login(client, "alice", PASSWORD).status_code] == [400, 400, 303]  # the owner gets in
    assert_limited(login(down.test_client(), "alice", PASSWORD))  # same address, another browser
    assert client.get("/auth/register").status_code == 503
    for n in range(2):  # the mail cap counts in memory too: the reset mail is composed once
        forgot = post_form(client_from(down, f"10.0.4.{n}"), "/auth/forgot", email="alice@example.com")
        assert forgot.status_code == 303
    assert [row.status for row in outbox(down)] == [OutboxMail.PENDING, OutboxMail.DROPPED]


def test_enter_in_a_form_with_a_captcha_submits_it_rather_than_asking_a_new_picture(make_app):
    """Browsers submit with the form's first submit button when Enter is pressed in a field."""
    app = make_app(RATELIMIT_LOGIN_CAPTCHA_AFTER="1 per hour")
    client = app.test_client()
    login(client, "alice", "wrong password here")
    for page in (client.get("/auth/register"), login(client, "alice", "wrong password here")):
        form = page.get_data(as_text=True).split("<main>")[1]
        assert 'name="captcha"' in form
        first_button = form[form.index("<form"):].split('<button type="submit"', 1)[1].split(">", 1)[0]
        assert "new_captcha" not in first_button


@pytest.mark.parametrize("name,value", [("TRUSTED_PROXIES", "one"), ("TRUSTED_PROXIES", "-1"),
                                        ("RATELIMIT_LOGIN_PER_ADDRESS", "lots"), ("RATELIMIT_ENABLED", "maybe"),
                                        ("MAX_CONTENT_LENGTH", "1M")])
def test_junk_limit_settings_are_refused_at_start_up(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError, match=name):
        create_app()


def test_with_redis_down_an_account_that_needs_the_captcha_gets_a_503_that_keeps_the_name(make_app):
    down = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", RATELIMIT_LOGIN_CAPTCHA_AFTER="1 per hour")
    client = down.test_client()
    for _ in range(2):  # the failure that brings the captcha in, then a try that would need it
        response = login(client, "alice", "wrong password here")
        text = response.get_data(as_text=True)
        assert response.status_code == 503
        assert "try again shortly" in text
        assert 'value="alice"' in text


def test_the_password_form_is_limited_per_account_not_per_address(make_app, mailbox, run_jobs):
    """It checks the current password: guessing it is limited for the account, from anywhere."""
    path, fields = "/account/password", {"password": "a new passphrase 42", "confirm": "a new passphrase 42"}
    app = make_app(RATELIMIT_ACCOUNT_CHANGES_PER_USER=TWO)
    client = client_from(app, "10.0.2.1")
    register_verified(client, run_jobs, mailbox)
    assert login(client).status_code == 303
    wrong = {**fields, "current_password": "not the password"}
    assert [post_form(client, path, **wrong).status_code for _ in range(2)] == [400, 400]
    client.environ_base["REMOTE_ADDR"] = "10.0.2.2"  # another network: the account's budget still applies
    assert_limited(post_form(client, path, **wrong))
    assert client.get(path).status_code == 200  # a GET spends nothing and still shows the form
