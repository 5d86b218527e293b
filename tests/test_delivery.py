"""The live delivery state of "check your inbox": only this browser's own ticket reads, and it tells no address apart."""
import time

from app.auth import delivery
from app.models import OutboxMail
from tests.helpers import deliver, hidden_inputs, outbox, post_form, register
from tests.services import wait_until


def state_url(page):
    marker = 'data-delivery="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def check_page(client):
    response = client.get("/auth/check-email")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_sign_up_page_shows_queued_then_sent_once_the_worker_delivered(client, run_jobs, mailbox):
    assert register(client).status_code == 303
    page = check_page(client)
    assert 'data-state="queued"' in page
    assert "Queued" in page
    assert 'class="refresh"' in page, "without JavaScript a link reloads the page"
    url = state_url(page)
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json["state"] == "queued"
    assert response.json["resend"] is False

    deliver(run_jobs, mailbox)
    assert client.get(url).json["state"] == "sent"
    assert 'data-state="sent"' in check_page(client)


def test_another_session_cannot_read_a_ticket_and_an_unknown_one_is_404(app, client):
    assert register(client).status_code == 303
    url = state_url(check_page(client))
    assert client.get(url).status_code == 200

    stranger = app.test_client()
    assert stranger.get(url).status_code == 404
    assert client.get(url[:-4] + "AAAA").status_code == 404
    assert app.test_client().get("/auth/check-email").get_data(as_text=True).count("data-delivery") == 0


def resend(client, email):
    response = post_form(client, "/auth/resend", email=email)
    assert response.status_code == 303
    return state_url(check_page(client))


def test_resend_reads_alike_for_a_waiting_account_and_for_no_account(make_app, run_jobs, mailbox):
    """A mail held back by the cap reads as sent to anyone but its signed-in owner, and no mail spends nothing."""
    app = make_app(RATELIMIT_RESEND_PER_EMAIL="20 per hour", RATELIMIT_MAIL_PER_RECIPIENT="2 per hour")
    owner, prober = app.test_client(), app.test_client()
    assert register(owner, email="waiting@example.com").status_code == 303  # spends one of the 2 mails

    seen = {"waiting": [], "nobody": []}
    for _ in range(2):
        for name, client in (("waiting", owner), ("nobody", prober)):
            url = resend(client, f"{name}@example.com")
            run_jobs()
            seen[name].append(wait_until(lambda: (s := client.get(url).json)["state"] in delivery.SETTLED and s,
                                         timeout=10, message="a settled state"))
    assert seen["waiting"] == seen["nobody"]
    assert [s["state"] for s in seen["nobody"]] == ["sent", "sent"]
    assert [row.status for row in outbox(app)] == [OutboxMail.SENT, OutboxMail.SENT, OutboxMail.DROPPED]
    assert {row.recipient for row in outbox(app)} == {"waiting@example.com"}  # no account: nothing composed


def test_send_again_is_offered_once_the_mail_has_had_time(client, run_jobs, mailbox, monkeypatch):
    assert register(client).status_code == 303
    deliver(run_jobs, mailbox)
    page = check_page(client)
    assert 'class="send-again" method="post" action="/auth/resend" hidden' in page
    later = time.time() + delivery.RESEND_AFTER_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    page = check_page(client)
    assert 'class="send-again" method="post" action="/auth/resend">' in page
    state = client.get(state_url(page)).json
    assert state["state"] == "sent"
    assert state["resend"] is True
    assert state["final"] is True  # the script stops polling
    fields = hidden_inputs(page[page.index('class="send-again"'):])
    assert fields["email"] == "alice@example.com"
    assert client.post("/auth/resend", data=fields).status_code == 303
