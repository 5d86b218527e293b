"""Sessions that end: cookies copied before a logout, a password change or a reset open nothing after it.

Logging out ends this device's login only; the other devices stay logged in until they log out, the
account ends them all, or their login outlives REMEMBER_DAYS.
"""
import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import LoginSession, User, session_hash, utcnow
from jobs import cleanup
from tests.helpers import (
    PASSWORD,
    deliver,
    hidden_inputs,
    link_in,
    logged_in,
    login,
    opens_account,
    post_form,
    register_verified,
)

NEW_PASSWORD = "a brand new passphrase"


def copy_of(app, client, names=("session", "remember_token")):
    """A fresh client holding copies of the named cookies, as someone who stole them would."""
    thief = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        if cookie is not None:
            thief.set_cookie(name, cookie.value)
    return thief


def log_out(client):
    page = client.get("/account").get_data(as_text=True)
    assert client.post("/auth/logout", data=hidden_inputs(page)).status_code == 303


def test_cookies_carry_secrets_the_database_keeps_only_keyed_hashes_of(app, client, mailbox, run_jobs):
    """A stolen database or backup holds neither part of a cookie, even with the cookie format known."""
    register_verified(client, run_jobs, mailbox)
    login(client, remember=True)
    with client.session_transaction() as session:
        cookie_id = session["_user_id"]
    token_part, _, secret = cookie_id.partition(".")
    assert client.get_cookie("remember_token").value.startswith(cookie_id)
    with app.app_context():
        user = db.session.scalar(db.select(User))
        [login_id] = db.session.scalars(select(LoginSession.id).where(LoginSession.user_id == user.id)).all()
        assert len(token_part) >= 40
        assert len(secret) >= 40
        assert str(user.id) not in (token_part, secret)
        assert token_part != user.session_token
        assert login_id != secret
        assert token_part == session_hash(user.session_token)  # derivable only with SECRET_KEY
        assert login_id == session_hash(secret)
    with app.app_context():  # every text the database holds, whatever its table
        stored = "".join(str(row) for table in db.metadata.sorted_tables
                         for row in db.session.execute(table.select()).all())
    assert token_part not in stored
    assert secret not in stored


def test_login_starts_a_fresh_session_with_a_new_csrf_token(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    before = hidden_inputs(client.get("/auth/login").get_data(as_text=True))["csrf_token"]
    assert login(client).status_code == 303
    with client.session_transaction() as session:
        assert "planted" not in session
    assert client.post("/auth/logout", data={"csrf_token": before}).status_code == 400  # the old token is spent
    assert opens_account(client)


def test_session_and_remember_cookies_copied_before_logout_are_dead_after_it(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    client = logged_in(app, remember=True)
    session_copy, remember_copy = copy_of(app, client, ["session"]), copy_of(app, client, ["remember_token"])
    assert opens_account(session_copy)
    assert opens_account(remember_copy)  # the copies work while logged in
    log_out(client)
    assert not opens_account(client)
    assert not opens_account(session_copy)
    assert not opens_account(remember_copy)
    assert not opens_account(copy_of(app, session_copy))  # nor does a copy of what the copies hold now


def test_logging_out_ends_this_device_only(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    laptop, phone = logged_in(app, remember=True), logged_in(app, remember=True)
    session_copy, remember_copy = copy_of(app, laptop, ["session"]), copy_of(app, laptop, ["remember_token"])
    log_out(laptop)
    assert not opens_account(laptop)
    assert not opens_account(session_copy)
    assert not opens_account(remember_copy)
    assert opens_account(phone)
    assert opens_account(copy_of(app, phone, ["remember_token"]))  # the phone's "keep me logged in" still works
    assert opens_account(logged_in(app))  # logging in again works at once


def test_logging_out_the_other_sessions_ends_them_and_keeps_this_one(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    laptop, phone = logged_in(app, remember=True), logged_in(app, remember=True)
    phone_remember = copy_of(app, phone, ["remember_token"])
    assert laptop.get("/account/sessions").get_data(as_text=True).count("Log out this session") == 1
    assert post_form(laptop, "/account/sessions").status_code == 303
    assert not opens_account(phone)
    assert not opens_account(phone_remember)
    assert opens_account(laptop)
    assert opens_account(copy_of(app, laptop, ["remember_token"]))
    assert "no other open session" in laptop.get("/account/sessions").get_data(as_text=True)


def test_a_login_older_than_remember_days_opens_nothing_and_the_cleanup_job_deletes_it(make_app, mailbox, run_jobs):
    app = make_app(REMEMBER_DAYS="3")
    register_verified(app.test_client(), run_jobs, mailbox)
    old, recent = logged_in(app, remember=True), logged_in(app, remember=True)
    old_remember, recent_remember = copy_of(app, old, ["remember_token"]), copy_of(app, recent, ["remember_token"])
    with app.app_context():
        age_login(login_id_of(old), timedelta(days=3, minutes=1))
        age_login(login_id_of(recent), timedelta(days=3) - timedelta(hours=1))
    assert not opens_account(old_remember)
    assert not opens_account(old)  # too old, even before the clean-up
    with app.app_context():
        assert cleanup.run()["logins"] == 1
        assert db.session.scalars(select(LoginSession.id)).all() == [login_id_of(recent)]
    assert not opens_account(copy_of(app, old))
    assert opens_account(recent_remember)
    assert opens_account(recent)


def login_id_of(client):
    """The stored id of the login a client's session cookie names (after the token's hash and a dot)."""
    with client.session_transaction() as session:
        return session_hash(session["_user_id"].partition(".")[2])


def age_login(login_id, age):
    """Move a login's creation back in time, as if it had been made `age` ago."""
    db.session.execute(update(LoginSession).where(LoginSession.id == login_id).values(created_at=utcnow() - age))
    db.session.commit()


def test_deleting_the_account_deletes_its_logins(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me, _other = logged_in(app), logged_in(app, remember=True)
    assert post_form(me, "/account/delete", current_password=PASSWORD).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_a_password_reset_ends_every_session_and_sends_a_notice(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    victim = logged_in(app, remember=True)
    session_copy, remember_copy = copy_of(app, victim, ["session"]), copy_of(app, victim, ["remember_token"])
    post_form(app.test_client(), "/auth/forgot", email="alice@example.com")
    path = link_in(deliver(run_jobs, mailbox, count=2)[1])
    assert post_form(app.test_client(), path, password=NEW_PASSWORD, confirm=NEW_PASSWORD).status_code == 303
    assert not any(opens_account(c) for c in (victim, session_copy, remember_copy))
    notice = deliver(run_jobs, mailbox, count=3)[2]
    assert notice.recipients == ["alice@example.com"]
    assert notice.subject == "Your password was changed"
    assert "reset through a link" in notice.text
    assert "/auth/forgot" in notice.text
    assert login(app.test_client(), password=PASSWORD).status_code == 400
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 303


def test_remember_me_lasts_thirty_days_by_default(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    assert remember_days(login(app.test_client(), remember="y")) == 30


def test_remember_days_comes_from_the_environment(make_app, mailbox, run_jobs):
    app = make_app(REMEMBER_DAYS="3")
    client = app.test_client()
    register_verified(client, run_jobs, mailbox)
    assert remember_days(login(client, remember="y")) == 3


def remember_days(response):
    """Whole days until the remember cookie set by this response expires."""
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("remember_token=")]
    expires = parsedate_to_datetime(header.split("Expires=")[1].split(";")[0])
    return round((expires - datetime.now(timezone.utc)) / timedelta(days=1))


def test_pages_behind_login_are_not_stored_by_caches(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    assert "no-store" not in client.get("/auth/login").headers.get("Cache-Control", "")
    login(client)
    for path in ("/account", "/account/password", "/account/email", "/account/sessions", "/account/delete", "/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    assert "no-store" not in client.get("/static/style.css").headers.get("Cache-Control", "")


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
PHONE = ("Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
         "Mobile Safari/537.36")


def device(app, user_agent, address):
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=address)
    assert login(client).status_code == 303
    return client


def test_the_sessions_page_lists_each_device_and_ends_the_one_chosen(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    laptop, phone = device(app, FIREFOX, "203.0.113.45"), device(app, PHONE, "2001:db8:5:6::7")
    page = laptop.get("/account/sessions").get_data(as_text=True)
    assert "Firefox on Linux" in page
    assert "Chrome on Android" in page
    assert "203.0.113.x" in page and "203.0.113.45" not in page  # the address, its last part hidden
    assert "2001:db8:5::/48" in page
    assert page.index("This device") < page.index("Chrome on Android")  # this one first
    [phone_login] = re.findall(r'name="session" value="([0-9a-f]{64})"', page)
    ended = laptop.post("/account/sessions", data={**hidden_inputs(page), "session": phone_login})
    assert ended.status_code == 303
    assert not opens_account(phone)  # logged out on its next request
    assert opens_account(laptop)
    assert "no other open session" in laptop.get("/account/sessions").get_data(as_text=True)


def test_one_account_cannot_end_another_accounts_session(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    register_verified(app.test_client(), run_jobs, mailbox, username="bob", email="bob@example.com")
    alice = logged_in(app)
    bob = app.test_client()
    assert login(bob, "bob").status_code == 303
    with app.app_context():
        alice_login = db.session.scalar(select(LoginSession.id).join(User).where(User.username == "alice"))
    page = bob.get("/account/sessions").get_data(as_text=True)
    bob.post("/account/sessions", data={**hidden_inputs(page), "session": alice_login})
    assert opens_account(alice)
    assert opens_account(bob)


def test_a_geoip_database_names_the_place(make_app, mailbox, run_jobs, tmp_path):
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"city": {"names": {"en": "Lyon"}},
                                                        "country": {"names": {"en": "France"}}})
    writer.to_db_file(str(tmp_path / "city.mmdb"))
    app = make_app(GEOIP_DATABASE=str(tmp_path / "city.mmdb"))
    register_verified(app.test_client(), run_jobs, mailbox)
    here = device(app, FIREFOX, "198.51.100.20")
    device(app, FIREFOX, "192.0.2.20")
    page = here.get("/account/sessions").get_data(as_text=True)
    assert "Lyon, France" in page
    assert "192.0.2.x" in page  # a place the database does not know: the address, shortened
