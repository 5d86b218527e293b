"""Registration, verification (link and code), resend, login and logout through the real forms, Redis, worker and sink."""
import base64
import re
import statistics
import time
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time
from redis import Redis

from app.accounts import passwords
from app.models import Event, OutboxMail
from tests.helpers import (
    PASSWORD,
    code_in,
    confirm,
    deliver,
    events,
    form_page,
    hidden_inputs,
    link_in,
    login,
    outbox,
    post_form,
    register,
    register_verified,
    users,
)


def test_register_queues_mail_and_answers_303(app, client, redis_server, mailbox, run_jobs):
    response = register(client, username="Alice", email="Alice@Example.com")
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/check-email"
    [user] = users(app)
    assert (user.username, user.email, user.is_verified) == ("Alice", "alice@example.com", False)  # addresses are stored lower-cased
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    [row] = outbox(app)
    assert (row.kind, row.status, row.recipient) == ("verify", OutboxMail.PENDING, "alice@example.com")
    assert Redis.from_url(redis_server.url).llen("rq:queue:mail") == 1
    assert mailbox.messages == []  # the request talked to no SMTP server
    assert events(app, Event.REGISTERED) == 1
    page = client.get("/auth/check-email").get_data(as_text=True)
    assert "alice@example.com" in page
    assert 'autocomplete="one-time-code"' in page

    [mail] = deliver(run_jobs, mailbox)
    assert mail.recipients == ["alice@example.com"]
    assert mail.sender == "no-reply@signup.test"
    assert mail.subject == "Confirm your email address"
    assert mail.html
    assert "Confirm my address" in mail.html
    assert outbox(app)[0].status == OutboxMail.SENT
    assert events(app, Event.MAIL_SENT) == 1


def test_verify_token_carries_no_readable_secret(app, client, mailbox, run_jobs):
    register(client)
    token = link_in(deliver(run_jobs, mailbox)[0]).rsplit("/", 1)[1]
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==").decode()
    user = users(app)[0]
    assert re.fullmatch(rf'\[{user.id},"[0-9a-f]{{16}}"\]', payload)
    assert "alice" not in payload
    assert user.password_hash[-16:] not in payload


def test_verify_link_get_changes_nothing_post_verifies_once(app, client, mailbox, run_jobs):
    register(client)
    path = link_in(deliver(run_jobs, mailbox)[0])
    page = client.get(path)
    assert page.status_code == 200
    assert "Confirm my address" in page.get_data(as_text=True)
    assert not users(app)[0].is_verified
    response = confirm(client, path)
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login"
    assert users(app)[0].is_verified
    assert events(app, Event.VERIFIED) == 1
    again = client.get(path)
    assert again.status_code == 400
    assert "/auth/resend" in again.get_data(as_text=True)


def test_verify_post_needs_csrf(app, client, mailbox, run_jobs):
    register(client)
    path = link_in(deliver(run_jobs, mailbox)[0])
    assert client.post(path, data={}).status_code == 400
    assert not users(app)[0].is_verified


@pytest.mark.parametrize("mangle", [lambda p: p[:-3] + "abc", lambda p: p.replace(".", "x", 1),
                                    lambda p: "/auth/verify/nonsense", lambda p: "/auth/verify/" + "A" * 3000])
def test_tampered_verify_link_gets_a_friendly_page(client, mailbox, run_jobs, mangle):
    register(client)
    response = client.get(mangle(link_in(deliver(run_jobs, mailbox)[0])))
    assert response.status_code == 400
    assert "ask for a new confirmation mail" in response.get_data(as_text=True)


@pytest.mark.parametrize("purpose", ["verify", "reset"])
def test_a_mailed_link_past_its_age_is_refused_even_with_its_form_open(app, client, mailbox, run_jobs, purpose):
    register(client)
    mail = deliver(run_jobs, mailbox)[0]
    if purpose == "reset":
        assert post_form(client, "/auth/forgot", email="alice@example.com").status_code == 303
        mail = deliver(run_jobs, mailbox, count=2)[1]
    path = link_in(mail)
    page = client.get(path)
    assert page.status_code == 200  # valid now: its form is shown
    fields = {**hidden_inputs(page.get_data(as_text=True)), "password": "a brand new passphrase",
              "confirm": "a brand new passphrase"}
    max_age = app.config["VERIFY_TOKEN_MAX_AGE" if purpose == "verify" else "RESET_TOKEN_MAX_AGE"]
    with freeze_time(datetime.now(timezone.utc) + timedelta(seconds=max_age + 60)):
        assert client.get(path).status_code == 400
        assert client.post(path, data=fields).status_code == 400
    [user] = users(app)
    assert not user.is_verified
    assert passwords.verify_password(user.password_hash, PASSWORD)


def test_code_from_the_mail_verifies_once(app, client, mailbox, run_jobs):
    register(client)
    code = code_in(deliver(run_jobs, mailbox)[0])
    other = app.test_client()  # a phone: no session from the sign-up
    response = other.post("/auth/verify-code", data={**form_page(other, "/auth/check-email"),
                                                     "email": "alice@example.com", "code": code})
    assert response.status_code == 303
    assert users(app)[0].is_verified
    again = other.post("/auth/verify-code", data={**form_page(other, "/auth/check-email"),
                                                  "email": "alice@example.com", "code": code})
    assert again.status_code == 400


def test_code_has_an_attempt_budget(app, client, mailbox, run_jobs):
    register(client)
    code = code_in(deliver(run_jobs, mailbox)[0])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        response = client.post("/auth/verify-code", data={**form_page(client, "/auth/check-email"),
                                                          "email": "alice@example.com", "code": wrong})
        assert response.status_code == 400
        assert "wrong, used or expired" in response.get_data(as_text=True)
    response = client.post("/auth/verify-code", data={**form_page(client, "/auth/check-email"),
                                                      "email": "alice@example.com", "code": code})
    assert response.status_code == 400
    assert not users(app)[0].is_verified


def test_code_for_unknown_address_answers_like_a_wrong_code(client):
    response = client.post("/auth/verify-code", data={**form_page(client, "/auth/check-email"),
                                                      "email": "nobody@example.com", "code": "123456"})
    assert response.status_code == 400
    assert "wrong, used or expired" in response.get_data(as_text=True)


@pytest.mark.parametrize("fields,field,message", [
    ({"username": "ab"}, "username", "between 3 and 32"),
    ({"username": "a" * 33}, "username", "between 3 and 32"),
    ({"username": "bad name!"}, "username", "only letters, digits"),
    ({"email": "not-an-address"}, "email", "@"),
    ({"password": "short1"}, "password", "between 8 and 128"),
    ({"password": "x" * 129}, "password", "between 8 and 128"),
    ({"password": "password123"}, "password", "most common"),
    ({"username": "longusername", "password": "LongUserName"}, "password", "not be your username"),
    ({"email": "mypassword9@example.com", "password": "mypassword9@example.com"}, "password", "not be your"),
    ({"confirm": "something else entirely"}, "confirm", "differ"),
    ({"captcha": "WRONG"}, "captcha", "not it"),
    ({"captcha": ""}, "captcha", "not it"),
])
def test_invalid_registration_keeps_input_and_creates_nothing(app, client, mailbox, fields, field, message):
    data = {"username": "alice", "email": "alice@example.com", "password": PASSWORD, "captcha": "PASSED", **fields}
    response = register(client, **data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    assert error
    assert message in error.group(1).replace("&#39;", "'")
    if field != "username":
        assert f'value="{data["username"]}"' in page
    for name in ("password", "confirm"):  # passwords are never sent back
        assert re.search(rf'<input[^>]*name="{name}"[^>]*value=""', page)
    assert users(app) == []
    assert outbox(app) == []
    assert mailbox.messages == []


def test_passwords_are_never_rendered_back(client):
    page = register(client, captcha="WRONG").get_data(as_text=True)
    assert PASSWORD not in page


def test_email_is_normalised_and_unique_case_insensitively(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox, email="Bob.Smith@EXAMPLE.com", username="bob")
    mailbox.reset()
    response = register(app.test_client(), username="bobby", email="bob.smith@example.COM")
    assert response.status_code == 303
    assert [u.email for u in users(app)] == ["bob.smith@example.com"]  # stored lower-cased, beyond ASCII too


def test_taken_address_answers_the_same_and_warns_its_owner(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    mailbox.reset()
    stranger = app.test_client()
    fresh = register(stranger, username="carol", email="carol@example.com")
    taken = register(stranger, username="mallory", email="ALICE@example.com")
    assert (taken.status_code, taken.headers["Location"]) == (fresh.status_code, fresh.headers["Location"])
    assert sorted(u.username for u in users(app)) == ["alice", "carol"]
    mails = deliver(run_jobs, mailbox, count=2)
    warning = [m for m in mails if m.recipients == ["alice@example.com"]][0]
    assert "someone (perhaps you) tried to sign up" in warning.text
    assert "/auth/forgot" in warning.text
    assert "/auth/verify/" not in warning.text
    alice = [u for u in users(app) if u.username == "alice"][0]
    assert passwords.verify_password(alice.password_hash, PASSWORD)  # nothing about the account changed


def test_taken_username_is_reported_case_insensitively(app, client):
    register(client)
    response = register(app.test_client(), username="ALICE", email="other@example.com")
    assert response.status_code == 400
    assert "This username is taken" in response.get_data(as_text=True)
    assert len(users(app)) == 1


def test_a_second_sign_up_for_a_waiting_address_changes_nothing_but_sends_a_fresh_mail(app, client, mailbox,
                                                                                        run_jobs):
    """Whoever signs up again with someone's pending address must not choose that account's password."""
    register(client)
    first = deliver(run_jobs, mailbox)[0]
    assert "signed up again" not in first.text
    register(app.test_client(), username="mallory", password="another long secret")
    second = deliver(run_jobs, mailbox, count=2)[1]
    [user] = users(app)
    assert user.username == "alice"
    assert second.recipients == ["alice@example.com"]
    assert "Someone signed up again with this address" in second.text
    assert events(app, Event.REGISTERED) == 1
    assert confirm(client, link_in(second)).status_code == 303
    assert login(client, "mallory", "another long secret").status_code == 400
    assert login(client, "alice@example.com", "another long secret").status_code == 400
    assert login(client, "alice", PASSWORD).status_code == 303


def test_a_second_sign_up_with_the_same_password_gets_a_plain_fresh_mail(app, client, mailbox, run_jobs):
    register(client)
    register(app.test_client())
    mails = deliver(run_jobs, mailbox, count=2)
    assert "signed up again" not in mails[1].text
    assert confirm(client, link_in(mails[1])).status_code == 303


def test_resend_answers_the_same_for_any_address(app, client, mailbox, run_jobs):
    register(client)
    deliver(run_jobs, mailbox)
    answers = [post_form(app.test_client(), "/auth/resend", email=address)
               for address in ("alice@example.com", "nobody@example.com")]
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["Location"] == answers[1].headers["Location"]
    mails = deliver(run_jobs, mailbox, count=2)
    assert [m.recipients for m in mails] == [["alice@example.com"], ["alice@example.com"]]
    assert confirm(client, link_in(mails[1])).status_code == 303
    # Once verified (and within the cooldown anyway), nothing more is sent.
    post_form(client, "/auth/resend", email="alice@example.com")
    run_jobs()
    assert len(mailbox.messages) == 2
    assert len(outbox(app)) == 2


def test_login_by_username_or_email_then_logout(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    response = login(client, "ALICE@example.com")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    page = client.get("/account").get_data(as_text=True)
    assert "alice" in page
    assert "alice@example.com" in page
    assert events(app, Event.LOGIN_OK) == 1
    assert client.get("/auth/logout").status_code == 405  # logout is a POST
    token = hidden_inputs(page)["csrf_token"]
    assert client.post("/auth/logout", data={}).status_code == 400
    assert client.post("/auth/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/account").status_code == 302
    assert events(app, Event.LOGOUT) == 1
    assert login(client, "Alice").status_code == 303


def test_wrong_password_and_unknown_user_get_one_message(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    timings, pages = {"alice": [], "nobody": []}, set()
    for _ in range(5):  # interleaved samples, compared by their medians: one slow sample proves nothing
        for name in timings:
            start = time.perf_counter()
            response = login(client, name, "wrong password here")
            timings[name].append(time.perf_counter() - start)
            assert response.status_code == 400
            pages.add(re.search(r'<p class="error"[^>]*>([^<]*)</p>', response.get_data(as_text=True)).group(1))
    assert pages == {"Wrong email, username or password."}
    assert events(app, Event.LOGIN_FAILED) == 10
    known, unknown = (statistics.median(samples) for samples in timings.values())
    assert 0.5 < known / unknown < 2  # both paths verify one argon2 hash (~25 ms); a shortcut would be ~20x faster


def test_unverified_account_is_refused_with_a_resend_link(app, client, mailbox, run_jobs):
    register(client)
    response = login(client)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "not confirmed yet" in page
    assert "/auth/resend" in page
    assert client.get("/account").status_code == 302


@pytest.mark.parametrize("target,expected", [
    ("/account?tab=1", "/account?tab=1"), ("https://evil.example/", "/account"), ("//evil.example/", "/account"),
    ("/\\evil.example", "/account"), ("/%09/evil.example", "/%09/evil.example"), ("javascript:alert(1)", "/account"),
])
def test_next_only_leads_to_a_local_path(client, mailbox, run_jobs, target, expected):
    register_verified(client, run_jobs, mailbox)
    from urllib.parse import quote
    response = login(client, query="?next=" + quote(target, safe=""))
    assert response.status_code == 303
    assert response.headers["Location"] == expected


def test_remember_me_sets_a_persistent_cookie(client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    response = login(client, remember="y")
    assert "remember_token=" in " ".join(response.headers.getlist("Set-Cookie"))
    client.post("/auth/logout", data=hidden_inputs(client.get("/account").get_data(as_text=True)))
    other = login(client)
    assert "remember_token=" not in " ".join(other.headers.getlist("Set-Cookie"))


def test_account_requires_login(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


def test_code_guesses_are_budgeted_per_address_across_new_codes(app, client, mailbox, run_jobs):
    register(client)
    deliver(run_jobs, mailbox)
    guess = {"email": "alice@example.com", "code": "000000"}
    for _ in range(5):
        client.post("/auth/verify-code", data={**form_page(client, "/auth/check-email"), **guess})
    register(client, password="another long secret")  # registering again issues a fresh code and attempts
    code = code_in(deliver(run_jobs, mailbox, count=2)[1])
    for _ in range(5):
        client.post("/auth/verify-code", data={**form_page(client, "/auth/check-email"), **guess})
    response = client.post("/auth/verify-code", data={**form_page(client, "/auth/check-email"), **guess,
                                                      "code": code})  # the 11th try: RATELIMIT_CODE_PER_EMAIL
    assert response.status_code == 429
    assert response.headers["Retry-After"]
    assert not users(app)[0].is_verified


def test_form_fields_and_autocomplete_hints_match_the_contract(client):
    def inputs(url):
        page = client.get(url).get_data(as_text=True)
        return {re.search(r'name="([^"]+)"', tag).group(1): re.search(r'autocomplete="([^"]+)"', tag)
                for tag in re.findall(r"<input[^>]*>", page)}

    register_page = inputs("/auth/register")
    assert set(register_page) == {"csrf_token", "captcha_id", "username", "email", "password", "confirm", "captcha"}
    assert {name: hint.group(1) for name, hint in register_page.items() if hint} == {
        "username": "username", "email": "email", "password": "new-password", "confirm": "new-password",
        "captcha": "off"}
    login_page = inputs("/auth/login")
    assert {name: hint.group(1) if hint else None for name, hint in login_page.items()} == {
        "csrf_token": None, "login": "username", "password": "current-password", "remember": None}
