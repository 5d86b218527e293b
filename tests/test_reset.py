"""Forgotten password: same answer for any address, the link through the outbox, single use, and it verifies."""
from app.models import Event
from tests.helpers import (
    PASSWORD,
    deliver,
    events,
    hidden_inputs,
    link_in,
    login,
    post_form,
    register,
    register_verified,
    users,
)

NEW_PASSWORD = "a brand new passphrase"


def reset_with(client, path, password=NEW_PASSWORD, confirm=None):
    fields = hidden_inputs(client.get(path).get_data(as_text=True))
    return client.post(path, data={**fields, "password": password,
                                   "confirm": password if confirm is None else confirm})


def test_forgot_answers_the_same_for_any_address(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    mailbox.reset()
    answers = [post_form(app.test_client(), "/auth/forgot", email=address)
               for address in ("ALICE@example.com", "nobody@example.com")]
    assert [(a.status_code, a.headers["Location"]) for a in answers] == [(303, "/auth/login")] * 2
    [mail] = deliver(run_jobs, mailbox)
    assert mail.recipients == ["alice@example.com"]
    assert mail.subject == "Reset your password"
    assert "/auth/reset/" in mail.html


def test_reset_link_works_once_and_replaces_the_password(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    post_form(client, "/auth/forgot", email="alice@example.com")
    path = link_in(deliver(run_jobs, mailbox, count=2)[1])
    page = client.get(path)
    assert page.status_code == 200
    assert 'autocomplete="new-password"' in page.get_data(as_text=True)
    assert reset_with(client, path).status_code == 303
    assert login(client, "alice", PASSWORD).status_code == 400
    assert login(client, "alice", NEW_PASSWORD).status_code == 303
    used = client.get(path)
    assert used.status_code == 400
    assert "/auth/forgot" in used.get_data(as_text=True)


def test_reset_refuses_weak_passwords_and_keeps_the_link_usable(client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    post_form(client, "/auth/forgot", email="alice@example.com")
    path = link_in(deliver(run_jobs, mailbox, count=2)[1])
    for password, message in (("qwerty123", "most common"), ("alice", "between 8"), ("ALICE@example.com", "not be")):
        response = reset_with(client, path, password)
        assert response.status_code == 400
        assert message in response.get_data(as_text=True).replace("&#39;", "'")
    assert reset_with(client, path, NEW_PASSWORD, "typo").status_code == 400
    assert reset_with(client, path).status_code == 303


def test_reset_of_an_unverified_account_verifies_it(app, client, mailbox, run_jobs):
    register(client)
    deliver(run_jobs, mailbox)
    post_form(client, "/auth/forgot", email="alice@example.com")
    path = link_in(deliver(run_jobs, mailbox, count=2)[1])
    assert reset_with(client, path).status_code == 303
    assert users(app)[0].is_verified
    assert events(app, Event.VERIFIED) == 1
    assert login(client, "alice@example.com", NEW_PASSWORD).status_code == 303


def test_tampered_reset_link_gets_a_friendly_page(client):
    response = client.get("/auth/reset/not-a-token")
    assert response.status_code == 400
    assert "new password reset mail" in response.get_data(as_text=True)
    assert client.post("/auth/reset/not-a-token", data={}).status_code == 400
