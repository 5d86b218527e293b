"""The account lifecycle through HTTP and the delivered mail: password, address, other sessions, deletion."""
from sqlalchemy import select

from app.extensions import db
from app.models import Event, OutboxMail
from tests.helpers import (
    PASSWORD,
    confirm,
    deliver,
    events,
    link_in,
    logged_in,
    login,
    opens_account,
    outbox,
    post_form,
    register,
    register_verified,
    users,
)

NEW_PASSWORD = "a brand new passphrase"


def page_of(response):
    return response.get_data(as_text=True).replace("&#39;", "'")


def test_account_pages_need_a_login(client):
    for path in ("/account/password", "/account/email", "/account/sessions", "/account/delete"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/auth/login?next="), path


def test_every_account_form_refuses_a_post_without_its_csrf_token(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    for path in ("/account/password", "/account/email", "/account/sessions", "/account/delete"):
        assert me.post(path, data={"current_password": PASSWORD}).status_code == 400, path
    assert len(users(app)) == 1
    assert opens_account(me)


def test_change_password_ends_other_sessions_keeps_this_one_and_sends_a_notice(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me, other = logged_in(app, remember=True), logged_in(app, remember=True)
    response = post_form(me, "/account/password", current_password=PASSWORD, password=NEW_PASSWORD,
                         confirm=NEW_PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert opens_account(me)
    assert not opens_account(other)
    # This device keeps "remember me": the new remember cookie alone opens the account.
    remembered = app.test_client()
    remembered.set_cookie("remember_token", me.get_cookie("remember_token").value)
    assert opens_account(remembered)
    notice = deliver(run_jobs, mailbox, count=2)[1]
    assert notice.recipients == ["alice@example.com"]
    assert notice.subject == "Your password was changed"
    assert "changed on your account page" in notice.text
    assert login(app.test_client()).status_code == 400
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 303
    assert events(app, Event.PASSWORD_CHANGED) == 1


def test_change_password_refuses_a_wrong_current_password_or_a_weak_new_one(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    wrong = post_form(me, "/account/password", current_password="not it at all", password=NEW_PASSWORD,
                      confirm=NEW_PASSWORD)
    assert wrong.status_code == 400
    assert "This is not your current password." in page_of(wrong)
    assert NEW_PASSWORD not in page_of(wrong)
    assert "not it at all" not in page_of(wrong)  # passwords are not echoed
    weak = post_form(me, "/account/password", current_password=PASSWORD, password="qwerty123", confirm="qwerty123")
    assert weak.status_code == 400
    assert "most common" in page_of(weak)
    assert login(app.test_client()).status_code == 303
    assert len(outbox(app)) == 1  # nothing changed, nothing sent


def test_change_email_takes_effect_through_the_link_sent_to_the_new_address(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me, other = logged_in(app), logged_in(app, remember=True)
    response = post_form(me, "/account/email", email="Alice.New@Example.com", current_password=PASSWORD)
    assert response.status_code == 303
    assert "alice.new@example.com" not in page_of(me.get("/account")).split("<dl>")[1]  # not yet
    mail = deliver(run_jobs, mailbox, count=2)[1]
    assert mail.recipients == ["alice.new@example.com"]
    assert mail.subject == "Confirm your new email address"
    path = link_in(mail)
    assert path.startswith("/account/email/")
    stranger = app.test_client()  # the link works in any browser: the mailbox is the proof
    page = stranger.get(path)
    assert page.status_code == 200
    assert "Use this address" in page_of(page)
    assert users(app)[0].email == "alice@example.com"  # opening the link changes nothing
    answer = confirm(stranger, path)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/auth/login"
    assert users(app)[0].email == "alice.new@example.com"
    assert not opens_account(me)
    assert not opens_account(other)
    assert stranger.get(path).status_code == 400  # single use
    notice = deliver(run_jobs, mailbox, count=3)[2]
    assert notice.recipients == ["alice@example.com"]
    assert notice.subject == "Your email address was changed"
    assert "alice.new@example.com" in notice.text
    assert login(app.test_client(), "alice.new@example.com").status_code == 303
    assert login(app.test_client(), "alice@example.com").status_code == 400
    assert events(app, Event.EMAIL_CHANGED) == 1


def test_confirming_in_the_same_browser_keeps_it_logged_in(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    post_form(me, "/account/email", email="new@example.com", current_password=PASSWORD)
    answer = confirm(me, link_in(deliver(run_jobs, mailbox, count=2)[1]))
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/account"
    assert "new@example.com" in page_of(me.get("/account"))


def test_logging_out_the_other_sessions_retires_an_address_change_under_way(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    borrowed, owner = logged_in(app), logged_in(app)
    post_form(borrowed, "/account/email", email="thief@example.com")  # asked from a session the owner did not mean
    path = link_in(deliver(run_jobs, mailbox, count=2)[1])
    assert post_form(owner, "/account/sessions").status_code == 303  # "log out all other sessions"
    assert app.test_client().get(path).status_code == 400  # the link opens nothing now
    assert users(app)[0].email == "alice@example.com"


def test_change_email_to_a_taken_address_looks_the_same_and_tells_its_owner(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    register_verified(app.test_client(), run_jobs, mailbox, username="bob", email="bob@example.com")
    mailbox.reset()
    me = logged_in(app)
    taken = post_form(me, "/account/email", email="BOB@example.com", current_password=PASSWORD)
    free = post_form(me, "/account/email", email="free@example.com", current_password=PASSWORD)
    assert (taken.status_code, taken.headers["Location"]) == (free.status_code, free.headers["Location"])
    mails = sorted(deliver(run_jobs, mailbox, count=2), key=lambda m: m.recipients)
    assert [m.recipients for m in mails] == [["bob@example.com"], ["free@example.com"]]
    assert mails[0].subject == "Someone tried to use your address"
    assert "/account/email/" not in mails[0].text
    assert sorted(u.email for u in users(app)) == ["alice@example.com", "bob@example.com"]


def test_change_email_keeps_what_was_typed_when_refused(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    same = post_form(me, "/account/email", email="ALICE@example.com", current_password=PASSWORD)
    assert same.status_code == 400
    assert "already your address" in page_of(same)
    junk = post_form(me, "/account/email", email="not an address", current_password=PASSWORD)
    assert junk.status_code == 400
    assert 'value="not an address"' in page_of(junk)
    assert len(outbox(app)) == 1


def test_an_address_taken_before_the_link_is_used_is_refused_with_409(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    post_form(me, "/account/email", email="carol@example.com", current_password=PASSWORD)
    path = link_in(deliver(run_jobs, mailbox, count=2)[1])
    register_verified(app.test_client(), run_jobs, mailbox, username="carol", email="carol@example.com")
    refused = confirm(me, path)
    assert refused.status_code == 409
    assert "carol@example.com" in page_of(refused)
    assert sorted(u.email for u in users(app)) == ["alice@example.com", "carol@example.com"]


def test_an_unverified_sign_up_does_not_keep_the_address_from_its_owner(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    register(app.test_client(), username="squatter", email="mine@example.com")  # never confirmed
    deliver(run_jobs, mailbox, count=2)
    mailbox.reset()
    me = logged_in(app)
    post_form(me, "/account/email", email="mine@example.com", current_password=PASSWORD)
    mail = deliver(run_jobs, mailbox)[0]
    assert mail.recipients == ["mine@example.com"]
    assert mail.subject == "Confirm your new email address"
    assert confirm(me, link_in(mail)).status_code == 303
    assert [(u.username, u.email) for u in users(app)] == [("alice", "mine@example.com")]


def test_tampered_email_link_gets_a_friendly_page(client):
    response = client.get("/account/email/not-a-token")
    assert response.status_code == 400
    assert "ask for a new link" in page_of(response)


def test_log_out_other_sessions_keeps_only_this_one(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me, laptop, phone = logged_in(app), logged_in(app), logged_in(app, remember=True)
    response = post_form(me, "/account/sessions")
    assert response.status_code == 303
    assert opens_account(me)
    assert not opens_account(laptop)
    assert not opens_account(phone)


def test_delete_account_removes_the_data_and_pending_mail_and_confirms_by_mail(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me, other = logged_in(app), logged_in(app, remember=True)
    post_form(me, "/account/email", email="pending@example.com", current_password=PASSWORD)  # left unsent
    mailbox.reset()
    response = post_form(me, "/account/delete", current_password=PASSWORD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert users(app) == []
    assert not opens_account(me)
    assert not opens_account(other)
    [row] = outbox(app)
    assert row.kind == "account_deleted"
    assert row.user_id is None
    with app.app_context():
        assert db.session.scalars(select(Event.user_id).where(Event.user_id.is_not(None))).all() == []
    [mail] = deliver(run_jobs, mailbox)
    assert mail.recipients == ["alice@example.com"]
    assert mail.subject == "Your account is deleted"
    assert "alice" in mail.text
    assert login(app.test_client()).status_code == 400
    assert events(app, Event.ACCOUNT_DELETED) == 1
    # The address is free again.
    assert register(app.test_client()).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(OutboxMail.kind).order_by(OutboxMail.id.desc())) == "verify"
