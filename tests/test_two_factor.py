"""Two-factor sign-in with an authenticator app, recovery codes, re-authentication, and administrators' duty."""
import re
import time
from datetime import datetime, timezone

from freezegun import freeze_time

from sqlalchemy import select

from app.accounts import twofactor
from app.extensions import db
from app.models import OutboxMail, RecoveryCode, User
from tests.helpers import (
    PASSWORD,
    app_code,
    enrol_app,
    form_page,
    logged_in,
    login,
    opens_account,
    outbox,
    post_form,
    register_verified,
    second_step,
)


def page_of(response):
    return response.get_data(as_text=True)


def press(client, page, action, **data):
    """Send a form of `page` to `action` (a POST-only URL), with that page's CSRF token."""
    return client.post(action, data={**form_page(client, page), **data})


def notices(app, event):
    return [row for row in outbox(app) if row.kind == "security_notice" and row.params["event"] == event]


def test_enrol_then_sign_in_with_password_and_code_and_never_with_the_password_alone(app, client, mailbox,
                                                                                      run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    page = me.get("/account/two-factor").get_data(as_text=True)
    uri = re.search(r"<code>(otpauth://totp/[^<]+)</code>", page).group(1)  # the URI as text beside the QR code
    assert "secret=" in uri and "issuer=localhost" in uri
    secret, codes = enrol_app(me)
    assert f"secret={secret}" in uri  # the same key the page showed, kept while the page is reloaded
    assert len(codes) == 10 and len(set(codes)) == 10
    assert [row.status for row in notices(app, "totp_enabled")] == [OutboxMail.PENDING]

    visitor = app.test_client()
    step = login(visitor)
    assert step.status_code == 303
    assert step.headers["Location"] == "/auth/login/code"
    assert not opens_account(visitor)  # the password alone reaches nothing
    assert "Second step" in page_of(visitor.get("/auth/login/code"))
    assert second_step(visitor, app, secret).status_code == 303
    assert opens_account(visitor)


def test_a_code_is_used_once_and_a_wrong_one_is_refused(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    secret, _ = enrol_app(logged_in(app))
    first = app.test_client()
    login(first)
    code = app_code(app, secret)
    assert post_form(first, "/auth/login/code", code=code).status_code == 303
    second = app.test_client()
    login(second)
    reused = post_form(second, "/auth/login/code", code=code)
    assert reused.status_code == 400
    assert "wrong or was already used" in page_of(reused)
    assert not opens_account(second)


def test_a_recovery_code_signs_in_once_and_tells_the_owner(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    _, codes = enrol_app(logged_in(app))
    visitor = app.test_client()
    login(visitor)
    assert post_form(visitor, "/auth/login/code", code=codes[3].upper()).status_code == 303  # typed in capitals
    assert opens_account(visitor)
    [notice] = notices(app, "recovery_code_used")
    assert notice.params["left"] == 9
    again = app.test_client()
    login(again)
    assert post_form(again, "/auth/login/code", code=codes[3]).status_code == 400


def test_ten_wrong_codes_get_429_but_the_owner_elsewhere_still_signs_in(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    secret, _ = enrol_app(logged_in(app))
    thief = app.test_client()
    thief.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    login(thief)
    statuses = [post_form(thief, "/auth/login/code", code="000000").status_code for _ in range(11)]
    assert statuses == [400] * 10 + [429]
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    login(owner)
    assert second_step(owner, app, secret).status_code == 303
    assert opens_account(owner)


def test_the_second_step_ends_with_a_password_change_and_after_five_minutes(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    secret, _ = enrol_app(me)
    late, thief = app.test_client(), app.test_client()
    login(late)
    with late.session_transaction() as session:
        session["second_step"] = {**session["second_step"], "until": int(time.time()) - 1}
    refused = late.get("/auth/login/code")
    assert refused.status_code == 303
    assert refused.headers["Location"] == "/auth/login"

    login(thief)  # a stolen password, the code step open; the owner changes the password meanwhile
    fields = form_page(thief, "/auth/login/code")
    changed = post_form(me, "/account/password", current_password=PASSWORD, password="a brand new passphrase",
                        confirm="a brand new passphrase")
    assert changed.status_code == 303
    late_code = thief.post("/auth/login/code", data={**fields, "code": app_code(app, secret)})
    assert late_code.headers["Location"] == "/auth/login"
    assert not opens_account(thief)


def test_the_secret_is_stored_encrypted_under_secret_key(app, client, mailbox, run_jobs, make_app):
    register_verified(client, run_jobs, mailbox)
    secret, _ = enrol_app(logged_in(app))
    with app.app_context():
        stored = db.session.scalar(select(User.totp_secret))
        hashes = db.session.scalars(select(RecoveryCode.code_hash)).all()
        assert secret not in stored
        assert twofactor.unseal(stored) == secret
    assert len(hashes) == 10
    other = make_app(SECRET_KEY="another-secret-key-0123456789")
    with other.app_context():
        assert twofactor.unseal(stored) is None  # a backup and the code alone do not give the codes


def test_turning_the_app_off_needs_a_code_and_tells_the_owner(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    secret, _ = enrol_app(me)
    refused = press(me, "/account/two-factor", "/account/two-factor/disable", **{"disable-code": "123456"})
    assert refused.status_code == 400
    assert "Turn off" in page_of(refused)
    done = press(me, "/account/two-factor", "/account/two-factor/disable", **{"disable-code": app_code(app, secret)})
    assert done.status_code == 303
    assert len(notices(app, "totp_disabled")) == 1
    with app.app_context():
        assert db.session.scalar(select(RecoveryCode.id)) is None  # no factor left: the codes go too
    assert login(app.test_client()).headers["Location"] == "/account"


def test_new_recovery_codes_void_the_old_ones(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    _, old = enrol_app(me)
    new = re.findall(r"<li><code>([a-z2-9-]{11})</code></li>",
                     page_of(press(me, "/account/two-factor", "/account/two-factor/recovery-codes")))
    assert len(new) == 10 and not set(new) & set(old)
    visitor = app.test_client()
    login(visitor)
    assert post_form(visitor, "/auth/login/code", code=old[0]).status_code == 400
    assert post_form(visitor, "/auth/login/code", code=new[0]).status_code == 303


def test_what_matters_needs_a_fresh_password_and_keeps_what_was_typed(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    with me.session_transaction() as session:
        session["reauth_at"] -= 11 * 60  # REAUTH_MINUTES (10) ago and a minute
    asked = press(me, "/account", "/account/email", email="typed@example.com")
    assert asked.status_code == 303
    assert asked.headers["Location"] == "/auth/reauthenticate?next=/account/email"
    assert len(outbox(app)) == 1  # the verification mail only: nothing was sent to the new address
    wrong = post_form(me, "/auth/reauthenticate?next=/account/email", password="not my password")
    assert wrong.status_code == 400
    assert "This is not your password." in page_of(wrong)
    back = post_form(me, "/auth/reauthenticate?next=/account/email", password=PASSWORD)
    assert back.headers["Location"] == "/account/email"
    assert 'value="typed@example.com"' in page_of(me.get("/account/email"))
    for path in ("/account/two-factor", "/account/passkeys", "/account/delete"):
        assert me.get(path).status_code == 200  # fresh now


def test_a_stale_session_cannot_enrol_delete_or_add_passkeys(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    with me.session_transaction() as session:
        del session["reauth_at"]  # as after a remember-me cookie restored the login
    for path in ("/account/two-factor", "/account/passkeys", "/account/delete"):
        response = me.get(path)
        assert response.status_code == 303
        assert response.headers["Location"] == f"/auth/reauthenticate?next={path}"
    assert press(me, "/account", "/account/delete").status_code == 303
    assert opens_account(me)  # still there
    token = form_page(me, "/account")["csrf_token"]
    assert me.post("/account/passkeys/options", headers={"X-CSRFToken": token}).status_code == 303


def test_an_administrator_without_a_second_factor_is_sent_to_enrol_first(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    with app.app_context():
        db.session.execute(db.update(User).values(is_admin=True))
        db.session.commit()
    sent = me.get("/admin/")
    assert sent.status_code == 303
    assert sent.headers["Location"] == "/account/two-factor"
    assert "Administrators need a second factor" in page_of(me.get("/account/two-factor"))
    enrol_app(me)
    assert me.get("/admin/").status_code == 200


def test_create_admin_says_a_second_factor_is_required(app):
    result = app.test_cli_runner().invoke(args=["create-admin", "root", "root@example.com", "--password",
                                                "a long admin passphrase"])
    assert result.exit_code == 0, result.output
    assert "second factor is required" in result.output


def test_a_notice_is_never_held_back_by_the_mailbox_cap(make_app, mailbox, run_jobs):
    app = make_app(RATELIMIT_NOTICE_MAIL_PER_RECIPIENT="1 per hour")
    register_verified(app.test_client(), run_jobs, mailbox)
    me = logged_in(app)
    secret, _ = enrol_app(me)
    press(me, "/account/two-factor", "/account/two-factor/disable", **{"disable-code": app_code(app, secret)})
    enrol_app(me)
    assert [row.status for row in outbox(app) if row.kind == "security_notice"] == [OutboxMail.PENDING] * 3


def test_past_the_daily_ceiling_a_stranger_gets_no_app_code_in_but_the_owners_browser_does(make_app, mailbox,
                                                                                            run_jobs):
    app = make_app(RATELIMIT_TWO_FACTOR_PER_ACCOUNT="3 per day")
    register_verified(app.test_client(), run_jobs, mailbox)
    secret, codes = enrol_app(logged_in(app))
    owner = app.test_client()
    login(owner)
    assert second_step(owner, app, secret).status_code == 303  # from now on this browser is known to the account
    for network in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):  # the password holder, from a botnet
        thief = app.test_client()
        thief.environ_base["REMOTE_ADDR"] = network
        login(thief)
        assert post_form(thief, "/auth/login/code", code="000000").status_code == 400

    with freeze_time(datetime.now(timezone.utc), tick=True) as clock:
        clock.tick(60)  # a step whose code the account has not used yet
        stranger = app.test_client()  # a browser that never finished a second step: a right code is not tried
        login(stranger)
        refused = post_form(stranger, "/auth/login/code", code=app_code(app, secret))
        assert refused.status_code == 400
        assert "Use a recovery code or a passkey" in page_of(refused)
        assert not opens_account(stranger)
        assert post_form(stranger, "/auth/login/code", code=codes[0]).status_code == 303  # a recovery code opens

        restarted = app.test_client()  # the owner's browser, restarted: its session is gone, the known cookie stays
        restarted.set_cookie("known_device", owner.get_cookie("known_device").value)
        assert not opens_account(restarted)
        clock.tick(60)
        login(restarted)
        assert second_step(restarted, app, secret).status_code == 303
        assert opens_account(restarted)
