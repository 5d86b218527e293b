"""Sign-in with another provider against a real OpenID Connect provider (npm's oidc-provider, started by the suite)."""
import http.cookiejar
import urllib.parse

import pyotp
import pytest
from joserfc.errors import JoseError
from sqlalchemy import select

from app import providers
from app.accounts import passwords
from app.extensions import db
from app.models import Identity, User
from tests.helpers import (
    PASSWORD,
    form_page,
    logged_in,
    login,
    opens_account,
    outbox,
    post_form,
    register_verified,
    with_app_codes,
)
from tests.oidc_login import id_token_for, provider_login

pytestmark = pytest.mark.processes  # a node process: the provider

ACCOUNTS = {
    "carol": {"email": "carol@example.com", "email_verified": True, "name": "Carol"},
    "alice-at-provider": {"email": "alice@example.com", "email_verified": True, "name": "Alice"},
    "mallory": {"email": "alice@example.com", "email_verified": False, "name": "Mallory"},
    "dave": {"email": "dave@elsewhere.example", "email_verified": True, "name": "Dave"},
}


@pytest.fixture
def app(make_app, oidc_provider):
    """The app with the suite's provider configured as "test"."""
    oidc_provider.set_accounts(ACCOUNTS)
    client_id, secret = oidc_provider.clients[0]
    return make_app(OIDC_PROVIDERS="test", OIDC_TEST_ISSUER=oidc_provider.issuer, OIDC_TEST_CLIENT_ID=client_id,
                    OIDC_TEST_CLIENT_SECRET=secret, OIDC_TEST_LABEL="Test ID")


def start(client, intent=None, page="/auth/login"):
    """Press "Sign in with Test ID" (or a link button): the redirect to the provider's authorization URL."""
    fields = {**form_page(client, page), **({"intent": intent} if intent else {})}
    response = client.post("/auth/oidc/test/login", data=fields)
    assert response.status_code == 302, response.status_code
    return response.headers["Location"]


def back_from(client, callback_url):
    """The browser arriving at our callback with what the provider sent it back with."""
    parts = urllib.parse.urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in_with(client, login, **kwargs):
    return back_from(client, provider_login(http.cookiejar.CookieJar(), start(client, **kwargs), login))


def identities(app):
    with app.app_context():
        return [(i.user.username, i.provider) for i in db.session.scalars(select(Identity))]


def test_the_buttons_show_only_when_a_provider_is_configured(app, make_app, oidc_provider):
    page = app.test_client().get("/auth/login")
    assert "Sign in with Test ID" in page.get_data(as_text=True)
    assert f"form-action 'self' {oidc_provider.issuer};" in page.headers["Content-Security-Policy"]
    assert "Sign in with Test ID" in app.test_client().get("/auth/register").get_data(as_text=True)
    plain = make_app()
    assert "Or sign in with another account" not in plain.test_client().get("/auth/login").get_data(as_text=True)
    visitor = plain.test_client()
    assert visitor.post("/auth/oidc/test/login", data=form_page(visitor, "/auth/login")).status_code == 404


def test_sign_up_with_a_verified_address_makes_a_verified_account_and_signs_in_again(app, client):
    response = sign_in_with(client, "carol")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    assert opens_account(client)
    with app.app_context():
        carol = db.session.scalar(select(User).where(User.email == "carol@example.com"))
        assert carol.is_verified
        assert not passwords.has_password(carol)
    again = app.test_client()
    assert sign_in_with(again, "carol").headers["Location"] == "/account"
    assert identities(app) == [("Carol", "test")]  # one account, one link


def test_a_verified_address_of_a_verified_account_is_linked_and_the_owner_told(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    visitor = app.test_client()
    assert sign_in_with(visitor, "alice-at-provider").headers["Location"] == "/account"
    assert identities(app) == [("alice", "test")]
    [notice] = [row for row in outbox(app) if row.kind == "security_notice"]
    assert notice.params == {"event": "provider_linked", "name": "Test ID"}


def test_an_unverified_address_at_the_provider_is_never_linked_to_the_account_that_has_it(app, client, mailbox,
                                                                                        run_jobs):
    register_verified(client, run_jobs, mailbox)
    mallory = app.test_client()
    response = sign_in_with(mallory, "mallory")
    assert response.headers["Location"] == "/auth/oidc/test/address"
    assert not opens_account(mallory)
    page = mallory.get("/auth/oidc/test/address").get_data(as_text=True)
    assert 'value="alice@example.com"' in page  # what the provider said, to confirm by our mail
    sent = post_form(mallory, "/auth/oidc/test/address", username="mallory", email="alice@example.com",
                     captcha="PASSED")
    assert sent.headers["Location"] == "/auth/check-email"  # as for any sign-up
    assert identities(app) == []
    assert [row.kind for row in outbox(app)][-1] == "already_registered"  # to alice, who can ignore it
    assert not opens_account(mallory)


def test_an_unverified_new_address_is_confirmed_by_our_mail_then_signs_in(app, client, oidc_provider, mailbox,
                                                                         run_jobs):
    oidc_provider.set_accounts({**ACCOUNTS, "erin": {"email": "erin@example.com", "email_verified": False}})
    assert sign_in_with(client, "erin").headers["Location"] == "/auth/oidc/test/address"
    refused = post_form(client, "/auth/oidc/test/address", username="erin", email="erin@example.com", captcha="wrong")
    assert refused.status_code == 400  # the captcha: the provider vouched for nothing
    post_form(client, "/auth/oidc/test/address", username="erin", email="erin@example.com", captcha="PASSED")
    assert sign_in_with(app.test_client(), "erin").status_code == 403  # not before the mail is used
    [mail] = run_jobs() or mailbox.wait_for(timeout=10)
    link = urllib.parse.urlsplit(mail.text.split("http://localhost:5000", 1)[1].split()[0]).path
    post_form(client, link)
    assert sign_in_with(app.test_client(), "erin").headers["Location"] == "/account"


def test_a_tampered_state_and_a_replayed_code_end_on_a_page_with_a_way_back(app, client):
    callback = provider_login(http.cookiejar.CookieJar(), start(client), "carol")
    tampered = callback.replace("state=", "state=x")
    refused = back_from(client, tampered)
    assert refused.status_code == 400
    assert "expired or was not started in this browser" in refused.get_data(as_text=True)
    assert 'href="/auth/login"' in refused.get_data(as_text=True)

    callback = provider_login(http.cookiejar.CookieJar(), start(client), "carol")
    assert back_from(client, callback).status_code == 303
    replayed = back_from(app.test_client(), callback)
    assert replayed.status_code == 400


def test_denied_at_the_provider(app, client):
    callback = provider_login(http.cookiejar.CookieJar(), start(client), "carol", cancel=True)
    assert "error=access_denied" in callback
    response = back_from(client, callback)
    assert response.status_code == 400
    assert "You did not allow Test ID" in response.get_data(as_text=True)


def test_an_id_token_for_another_audience_is_refused(app, oidc_provider):
    ours = id_token_for(oidc_provider, oidc_provider.clients[0], "carol")
    theirs = id_token_for(oidc_provider, oidc_provider.clients[1], "carol")
    with app.test_request_context():
        remote = providers.client("test")
        assert remote.parse_id_token({"id_token": ours}, nonce="n-0")["sub"] == "carol"
        with pytest.raises(JoseError):
            remote.parse_id_token({"id_token": theirs}, nonce="n-0")


def test_a_provider_that_answers_as_another_issuer_is_refused(make_app, oidc_provider, client):
    client_id, secret = oidc_provider.clients[0]
    app = make_app(OIDC_PROVIDERS="test", OIDC_TEST_ISSUER=oidc_provider.issuer.replace("127.0.0.1", "localhost"),
                   OIDC_TEST_CLIENT_ID=client_id, OIDC_TEST_CLIENT_SECRET=secret)
    visitor = app.test_client()
    response = visitor.post("/auth/oidc/test/login", data=form_page(visitor, "/auth/login"))
    assert response.status_code == 503
    assert "another issuer" in response.get_data(as_text=True)


def test_link_and_unlink_while_signed_in_with_notices(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    me = logged_in(app)
    linked = sign_in_with(me, "dave", intent="link", page="/account/providers")
    assert linked.headers["Location"] == "/account/providers"
    assert identities(app) == [("alice", "test")]
    assert sign_in_with(app.test_client(), "dave").headers["Location"] == "/account"  # dave's login opens alice's
    page = me.get("/account/providers").get_data(as_text=True)
    assert "dave@elsewhere.example" in page
    with app.app_context():
        identity_id = db.session.scalar(select(Identity.id))
    response = me.post(f"/account/providers/{identity_id}/unlink", data=form_page(me, "/account/providers"))
    assert response.status_code == 303
    assert identities(app) == []
    events = [row.params["event"] for row in outbox(app) if row.kind == "security_notice"]
    assert events == ["provider_linked", "provider_unlinked"]


def test_the_only_way_in_cannot_be_unlinked_until_a_password_is_set(app, client):
    sign_in_with(client, "carol")
    with app.app_context():
        identity_id = db.session.scalar(select(Identity.id))
    response = client.post(f"/account/providers/{identity_id}/unlink", data=form_page(client, "/account/providers"))
    assert response.status_code == 303
    assert "only way into your account" in client.get("/account/providers").get_data(as_text=True)
    assert identities(app) == [("Carol", "test")]
    page = client.get("/account/password").get_data(as_text=True)
    assert "current_password" not in page  # there is none to ask for
    assert post_form(client, "/account/password", password="carol's own passphrase",
                     confirm="carol's own passphrase").status_code == 303
    client.post(f"/account/providers/{identity_id}/unlink", data=form_page(client, "/account/providers"))
    assert identities(app) == []
    assert login(app.test_client(), "carol@example.com", "carol's own passphrase").status_code == 303


def test_two_factor_still_applies_after_a_provider_sign_in(app, client, mailbox, run_jobs):
    register_verified(client, run_jobs, mailbox)
    secret = pyotp.random_base32()
    with app.app_context():
        with_app_codes(db.session.scalar(select(User)), secret)
        db.session.commit()
    visitor = app.test_client()
    response = sign_in_with(visitor, "alice-at-provider")
    assert response.headers["Location"] == "/auth/login/code"
    assert not opens_account(visitor)
    assert post_form(visitor, "/auth/login/code", code=pyotp.TOTP(secret).now()).status_code == 303
    assert opens_account(visitor)


def test_a_password_login_is_unchanged_for_an_account_made_through_a_provider(app, client):
    sign_in_with(client, "carol")
    response = login(app.test_client(), "carol@example.com", PASSWORD)
    assert response.status_code == 400  # no password matches, and the answer is the usual one
    assert "Wrong email, username or password." in response.get_data(as_text=True)


def test_an_account_without_a_password_re_authenticates_through_its_provider(app, client):
    sign_in_with(client, "carol")
    with client.session_transaction() as session:
        del session["reauth_at"]  # as after a remember-me cookie restored the login
    asked = client.get("/account/delete")
    assert asked.headers["Location"] == "/auth/reauthenticate?next=/account/delete"
    page = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert 'name="password"' not in page  # there is none to type
    assert "Confirm with Test ID" in page
    fields = {**form_page(client, "/auth/reauthenticate?next=/account/delete"), "intent": "reauth"}
    authorize = client.post("/auth/oidc/test/login?next=/account/delete", data=fields).headers["Location"]
    back = back_from(client, provider_login(http.cookiejar.CookieJar(), authorize, "carol"))
    assert back.headers["Location"] == "/account/delete"
    assert client.get("/account/delete").status_code == 200
    other = provider_login(http.cookiejar.CookieJar(), client.post("/auth/oidc/test/login?next=/account/delete",
                                                                   data=fields).headers["Location"], "dave")
    assert back_from(client, other).status_code == 403  # another person at the provider proves nothing here

