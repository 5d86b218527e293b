"""The gate, replayed black-box against the Procfile's release, web and worker, as an attacker would.

Each test is one of the attacks a stranger could make with our own protections: spend the owner's mail
budget, read an oracle in an answer, guess a pending account's code from many addresses, take over a
pending sign-up, use a reset link after the account moved on, read tokens in the logs or the health check.
The strangers arrive through one trusted proxy (TRUSTED_PROXIES=1), so X-Forwarded-For plays their addresses.
"""
import itertools
import json

import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from tests.helpers import (
    HEALTHZ,
    Visitor,
    hidden_inputs,
    mail_to,
    path_in,
)
from tests.helpers import confirm_over_http as confirm
from tests.helpers import visitor_logged_in as logged_in
from tests.services import start_site, wait_until

pytestmark = pytest.mark.processes

PASSWORD, NEW_PASSWORD = "gate passphrase 42", "another gate phrase 7"
SPELLINGS = ["victim@example.com", "Victim@EXAMPLE.com", "victim+x@example.com", "victim@ｅxample.com",
             "victim@example。com"]
ADDRESSES = (f"198.51.100.{n}" for n in itertools.count(1))


def start_gate(env, log_dir):
    """release, web and worker behind one trusted proxy, every limit's count at zero: (base URL, processes)."""
    Redis.from_url(env["REDIS_URL"]).flushdb()
    return start_site({**env, "TRUSTED_PROXIES": "1"}, log_dir, ("web", "worker"))


@pytest.fixture
def gate(app_env, tmp_path):
    base, processes = start_gate(app_env, str(tmp_path))
    try:
        yield base, app_env, processes
    finally:
        for process in processes:
            process.stop(timeout=5)


def stranger(base):
    """A new browser on a new address."""
    visitor = Visitor(base)
    address = next(ADDRESSES)
    visitor.headers = {"X-Forwarded-For": address}
    return visitor


def post(visitor, path, **fields):
    """GET the form and POST it from the visitor's own address."""
    headers = getattr(visitor, "headers", {})
    status, _, page = visitor.request(path, headers=headers)
    assert status == 200, (path, status)
    return visitor.request(path, {**hidden_inputs(page), **fields}, headers=headers)


def sign_up(base, mailbox, username="victim", email="victim@example.com", password=PASSWORD):
    visitor = Visitor(base)
    assert visitor.submit("/auth/register", username=username, email=email, password=password, confirm=password,
                          captcha="PASSED")[0] == 303
    return visitor


def sign_up_verified(base, mailbox, **kwargs):
    visitor = sign_up(base, mailbox, **kwargs)
    link = path_in(base, mail_to(mailbox, "victim@example.com", "Confirm your email address"), "/auth/verify/")
    assert confirm(visitor, link)[0] == 303
    return visitor


def subjects_to(mailbox, address="victim@example.com"):
    return [m.subject for m in mailbox.messages if m.recipients == [address]]


def test_strangers_spelling_the_address_five_ways_cannot_silence_the_owners_notices(gate, mailbox):
    """Attacks 1 and 3: resends, sign-ups and resets aimed at the inbox leave the notices their budget."""
    base, _, _ = gate
    sign_up_verified(base, mailbox)
    answers = []
    for email in SPELLINGS * 2:
        answers.append(post(stranger(base), "/auth/resend", email=email)[0])
        answers.append(post(stranger(base), "/auth/register", username="mallory", email=email, password=NEW_PASSWORD,
                            confirm=NEW_PASSWORD, captcha="PASSED")[0])
    assert set(answers) <= {303, 400, 429}  # 400: "mallory" was taken by the +tag spelling, a real address
    assert answers.count(429) >= 10  # one mailbox, whatever its spelling: the per-mailbox limits apply
    owner = logged_in(base, "victim", PASSWORD)
    assert owner.submit("/account/password", current_password=PASSWORD, password=NEW_PASSWORD,
                        confirm=NEW_PASSWORD)[0] == 303
    assert "changed" in mail_to(mailbox, "victim@example.com", "Your password was changed")
    assert post(Visitor(base), "/auth/forgot", email="victim@example.com")[0] == 303
    assert "/auth/reset/" in mail_to(mailbox, "victim@example.com", "Reset your password")
    strangers_mails = [s for s in subjects_to(mailbox) if s == "Someone tried to sign up with your address"]
    assert len(strangers_mails) <= 4  # what anyone may aim at an inbox in an hour (RATELIMIT_MAIL_PER_RECIPIENT)


def delivery_state(visitor):
    """The settled state the check-your-inbox page's script would show."""
    _, _, page = visitor.request("/auth/check-email", headers=visitor.headers)
    url = page.split('data-delivery="', 1)[1].split('"', 1)[0]

    def settled():
        state = json.loads(visitor.request(url, headers=visitor.headers)[2])
        return state if state["state"] in ("sent", "failed", "dropped", "cancelled") else None
    return wait_until(settled, timeout=20, message="a settled delivery state")


@pytest.mark.parametrize("limits", [{"RATELIMIT_MAIL_PER_RECIPIENT": "2 per hour"}])
def test_no_answer_tells_an_address_with_an_account_from_one_without(app_env, tmp_path, mailbox, limits):
    """Attack 2: after forgot and resend requests, every page and state reads alike; so does the login captcha."""
    base, processes = start_gate({**app_env, **limits}, str(tmp_path))
    try:
        sign_up(base, mailbox, username="waiter", email="waiting@example.com")  # one of its two mails
        sign_up_verified(base, mailbox)
        seen = {}
        for email in ("waiting@example.com", "victim@example.com", "nobody@example.com"):
            visitor = stranger(base)
            for _ in range(3):
                assert post(visitor, "/auth/forgot", email=email)[0] == 303
            for _ in range(3):  # the third for the waiting account is over its cap: held back
                status, headers, _ = post(visitor, "/auth/resend", email=email)
                assert (status, headers["Location"]) == (303, "/auth/check-email")
            seen[email] = delivery_state(visitor)
        assert seen["waiting@example.com"] == seen["victim@example.com"] == seen["nobody@example.com"]
        assert seen["nobody@example.com"]["state"] == "sent"

        captcha = {}
        for name in ("victim", "victim@example.com", "nobody@example.com"):
            visitor = stranger(base)
            for _ in range(5 if name == "victim" else 1):
                status, _, page = post(visitor, "/auth/login", login=name, password="not the password")
            captcha[name] = 'name="captcha"' in page
        assert captcha == {"victim": True, "victim@example.com": False, "nobody@example.com": False}
    finally:
        for process in processes:
            process.stop(timeout=5)


def test_a_pending_accounts_code_cannot_be_guessed_from_many_addresses(gate, mailbox):
    """Attack 3: wrong codes spelled five ways from 30 addresses, with resends in between: 10 evaluated at most."""
    base, _, _ = gate
    sign_up(base, mailbox)
    evaluated = 0
    for n, email in zip(range(30), itertools.cycle(SPELLINGS)):
        visitor = stranger(base)
        if n % 6 == 0:
            post(visitor, "/auth/resend", email=email)
        status, _, _ = code_guess(visitor, email, f"{n:06d}")
        assert status in (400, 429), status
        evaluated += status == 400
    assert evaluated <= 10


def code_guess(visitor, email, code):
    _, _, page = visitor.request("/auth/check-email", headers=visitor.headers)
    return visitor.request("/auth/verify-code", {**hidden_inputs(page), "email": email, "code": code},
                           headers=visitor.headers)


def test_a_second_sign_up_cannot_take_over_a_pending_account(gate, mailbox):
    """Attack 4: the owner confirms the newest mail; the stranger's password opens nothing."""
    base, _, _ = gate
    owner = sign_up(base, mailbox)
    assert post(stranger(base), "/auth/register", username="victim", email="victim@example.com",
                password=NEW_PASSWORD, confirm=NEW_PASSWORD, captcha="PASSED")[0] == 303
    mailbox.wait_for(lambda messages: len(messages) >= 2, timeout=30)
    newest = mailbox.messages[-1].text
    assert "Someone signed up again with this address" in newest
    assert confirm(owner, path_in(base, newest, "/auth/verify/"))[0] == 303
    assert Visitor(base).submit("/auth/login", login="victim", password=NEW_PASSWORD)[0] == 400
    assert Visitor(base).submit("/auth/login", login="victim", password=PASSWORD)[0] == 303


def reset_link(base, mailbox, address="victim@example.com"):
    mailbox.reset()
    assert post(Visitor(base), "/auth/forgot", email=address)[0] == 303
    return path_in(base, mail_to(mailbox, address, "Reset your password"), "/auth/reset/")


def test_a_reset_link_dies_with_an_address_change_and_with_log_out_everywhere_else(gate, mailbox):
    """Attack 5: the link mailed to the old address, or before the other sessions ended, offers no form."""
    base, _, _ = gate
    sign_up_verified(base, mailbox)
    before_move = reset_link(base, mailbox)
    owner = logged_in(base, "victim", PASSWORD)
    assert owner.submit("/account/email", email="moved@example.com", current_password=PASSWORD)[0] == 303
    move = path_in(base, mail_to(mailbox, "moved@example.com", "Confirm your new email address"), "/account/email/")
    assert confirm(owner, move)[0] == 303
    assert Visitor(base).request(before_move)[0] == 400

    before_logout = reset_link(base, mailbox, "moved@example.com")
    owner = logged_in(base, "victim", PASSWORD)
    assert owner.submit("/account/sessions")[0] == 303
    assert Visitor(base).request(before_logout)[0] == 400
    assert Visitor(base).request(reset_link(base, mailbox, "moved@example.com"))[0] == 200


def test_logs_hold_no_token_and_healthz_tells_the_public_only_ok(gate, mailbox):
    """Attack 7: a failing token URL is logged by its route; /healthz details need the token."""
    base, env, processes = gate
    sign_up_verified(base, mailbox)
    link = reset_link(base, mailbox)
    token = link.rsplit("/", 1)[1]
    status, _, public = Visitor(base).request("/healthz")
    assert (status, json.loads(public)) == (200, {"ok": True})
    status, _, details = Visitor(base).request("/healthz", headers=HEALTHZ)
    assert status == 200
    assert "queues" in json.loads(details)
    engine = create_engine(env["DATABASE_URL"])
    with engine.begin() as connection:  # the database breaks under the web process: its error page and log
        connection.execute(text('ALTER TABLE "user" RENAME TO user_gone'))
    try:
        assert Visitor(base).request(link)[0] == 500
    finally:
        with engine.begin() as connection:
            connection.execute(text('ALTER TABLE user_gone RENAME TO "user"'))
        engine.dispose()
    web = processes[0]
    wait_until(lambda: "/auth/reset/<token>" in web.log(), timeout=30, message="the error logged")
    assert "Traceback" in web.log()
    assert token not in web.log()
