"""The gate's rules in-process: one key per mailbox and per client network, held notices shown to operators,
mailed links refused for a disabled account, a daily code budget, idle sessions ending, redacted log records."""
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import ratelimit
from app.extensions import db
from app.models import LoginSession, OutboxMail, User, utcnow
from tests.helpers import (
    PASSWORD,
    code_in,
    deliver,
    form_page,
    link_in,
    logged_in,
    login,
    make_admin,
    opens_account,
    outbox,
    post_form,
    register,
    register_verified,
)


@pytest.mark.parametrize("spelling", ["victim@ｅxample.com", "victim@example。com", "Victim+news@EXAMPLE.com",
                                      " victim@example.com "])
def test_every_spelling_of_a_mailbox_has_one_key(app, spelling):
    with app.test_request_context():
        assert ratelimit.mailbox(spelling) == "victim@example.com"
        assert ratelimit.mailbox_key(spelling) == ratelimit.mailbox_key("victim@example.com")


@pytest.mark.parametrize("address,key", [("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
                                         ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
                                         ("::ffff:192.0.2.7", "192.0.2.7"), ("192.0.2.7", "192.0.2.7")])
def test_a_client_is_its_ipv4_address_or_its_ipv6_64(app, address, key):
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        assert ratelimit.client_address() == key


def test_a_notice_over_its_budget_is_held_and_shown_to_operators(make_app, mailbox, run_jobs, app_env):
    app = make_app(RATELIMIT_NOTICE_MAIL_PER_RECIPIENT="1 per hour", RATELIMIT_MAIL_PER_RECIPIENT="1 per hour")
    register_verified(app.test_client(), run_jobs, mailbox)  # spends the one mail anyone may ask for
    me = logged_in(app)
    for old, new in ((PASSWORD, "first new passphrase"), ("first new passphrase", "second new passphrase")):
        assert post_form(me, "/account/password", current_password=old, password=new, confirm=new).status_code == 303
    notices = [row for row in outbox(app) if row.kind == "password_changed"]
    assert [row.status for row in notices] == [OutboxMail.PENDING, OutboxMail.HELD]  # not spent by the sign-up
    make_admin(app)
    page = me.get("/admin/mail").get_data(as_text=True)
    assert "notice held back" in page
    assert "RATELIMIT_NOTICE_MAIL_PER_RECIPIENT" in page


def type_code(client, code):
    fields = form_page(client, "/auth/check-email")
    return client.post("/auth/verify-code", data={**fields, "email": "alice@example.com", "code": code})


def disable(app):
    with app.app_context():
        db.session.execute(update(User).values(disabled_at=utcnow()))
        db.session.commit()


def test_every_mailed_link_refuses_a_disabled_account(make_app, mailbox, run_jobs):
    app = make_app()
    client = app.test_client()
    register(client)
    verify_mail = deliver(run_jobs, mailbox)[0]
    disable(app)
    assert client.get(link_in(verify_mail)).status_code == 400
    assert type_code(client, code_in(verify_mail)).status_code == 400
    with app.app_context():
        db.session.execute(update(User).values(disabled_at=None, verified_at=utcnow()))
        db.session.commit()
    me = logged_in(app)
    post_form(client, "/auth/forgot", email="alice@example.com")
    assert post_form(me, "/account/email", email="new@example.com", current_password=PASSWORD).status_code == 303
    mails = deliver(run_jobs, mailbox, count=3)
    disable(app)
    for mail in mails[1:]:
        assert client.get(link_in(mail)).status_code == 400, mail.subject


def test_wrong_codes_have_a_daily_budget_that_a_resend_does_not_refill(make_app, mailbox, run_jobs):
    app = make_app(RATELIMIT_CODE_PER_ACCOUNT="3 per day", RATELIMIT_CODE_PER_EMAIL="100 per hour",
                   RATELIMIT_RESEND_PER_EMAIL="100 per hour")
    client = app.test_client()
    register(client)
    for _ in range(3):
        post_form(client, "/auth/resend", email="alice@example.com")  # a new code, never new tries
        assert type_code(client, "000000").status_code == 400
    right = code_in(deliver(run_jobs, mailbox, count=4)[-1])
    assert type_code(client, right).status_code == 400
    assert client.get(link_in(mailbox.messages[-1])).status_code == 200  # the owner still has the link


def age_last_seen(app, minutes):
    with app.app_context():
        db.session.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=minutes)))
        db.session.commit()


def test_a_session_without_remember_me_ends_after_its_idle_minutes(make_app, mailbox, run_jobs):
    app = make_app(SESSION_IDLE_MINUTES="30")
    register_verified(app.test_client(), run_jobs, mailbox)
    short, kept = logged_in(app), logged_in(app, remember=True)
    age_last_seen(app, 29)
    assert opens_account(short)
    assert opens_account(kept)  # a request keeps it alive
    age_last_seen(app, 31)
    assert not opens_account(short)
    assert opens_account(kept)
    with app.app_context():
        seen = db.session.scalars(select(LoginSession.last_seen_at)).all()
    assert max(seen) > utcnow() - timedelta(minutes=1)  # written again by the request just made


def test_last_seen_is_written_at_most_once_a_minute(make_app, mailbox, run_jobs):
    app = make_app()
    register_verified(app.test_client(), run_jobs, mailbox)
    me = logged_in(app)
    age_last_seen(app, 0.5)
    with app.app_context():
        before = db.session.scalar(select(LoginSession.last_seen_at))
    assert opens_account(me)
    with app.app_context():
        assert db.session.scalar(select(LoginSession.last_seen_at)) == before


def test_every_log_record_of_the_app_has_its_url_tokens_redacted(app, caplog):
    token = "eyJ1IjoxLCJwIjoiYWJjZGVmIn0.Zz9Qxw.c2VjcmV0LXNpZ25hdHVyZS1oZXJl"
    with caplog.at_level(logging.ERROR):
        logging.getLogger("app").error("Exception on /auth/reset/%s [GET]", token)
        logging.getLogger("some.library").error("GET /auth/verify/%s?next=%s", token, token)
    assert token not in caplog.text
    assert "/auth/reset/<token>" in caplog.text
    assert "next=<token>" in caplog.text


def test_login_failures_on_a_username_do_not_bring_the_captcha_to_its_address(make_app, mailbox, run_jobs):
    app = make_app(RATELIMIT_LOGIN_CAPTCHA_AFTER="2 per hour")
    register_verified(app.test_client(), run_jobs, mailbox)
    client = app.test_client()
    pages = [login(client, name, "wrong password here").get_data(as_text=True)
             for name in ("alice", "alice", "alice@example.com", "nobody@example.com")]
    assert ['name="captcha"' in page for page in pages] == [False, True, False, False]
