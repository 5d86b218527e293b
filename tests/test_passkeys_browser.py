"""Passkeys in Chromium with a virtual authenticator (DevTools' WebAuthn domain): add, sign in, second step, remove."""
import pytest
from playwright.sync_api import expect

from app.accounts import passwords
from app.extensions import db
from app.models import Passkey, User, utcnow
from tests.helpers import PASSWORD
from tests.services import start_site

pytestmark = pytest.mark.processes


@pytest.fixture
def site(app, app_env, tmp_path):
    """alice, verified, and the Procfile's web on http://localhost:<port> (a passkey's relying party is a name)."""
    with app.app_context():
        db.session.add(User(username="alice", email="alice@example.com", verified_at=utcnow(),
                            password_hash=passwords.hash_password(PASSWORD)))
        db.session.commit()
    base, processes = start_site(app_env, str(tmp_path), ("web",), host="localhost")
    try:
        yield base
    finally:
        for process in processes:
            process.stop(timeout=5)


@pytest.fixture
def page(browser):
    """A page whose browser has a platform authenticator with a fingerprint reader that always agrees."""
    context = browser.new_context()
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})
    yield page
    context.close()


def log_in_with_password(page, base, remember=False):
    page.goto(base + "/auth/login")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", PASSWORD)
    if remember:
        page.check("input[name=remember]")
    page.press("input[name=password]", "Enter")


def log_out(page, base):
    page.click("nav button:has-text('Log out')")
    expect(page).to_have_url(base + "/")


def test_add_a_passkey_then_sign_in_with_it_and_no_password_then_remove_it(site, page, app):
    base = site
    log_in_with_password(page, base)
    expect(page).to_have_url(base + "/account")
    page.goto(base + "/account/passkeys")
    page.fill("input[name=name]", "Test laptop")
    page.press("input[name=name]", "Enter")
    expect(page.locator("ul.cards")).to_contain_text("Test laptop")
    expect(page.locator("ul.cards")).to_contain_text("never used")
    with app.app_context():
        assert db.session.query(Passkey).count() == 1

    log_out(page, base)
    page.goto(base + "/auth/login")
    page.click("text=Sign in with a passkey")  # no password typed
    expect(page).to_have_url(base + "/account")

    # With a passkey, the password alone no longer signs in: the passkey is the second step.
    log_out(page, base)
    log_in_with_password(page, base, remember=True)
    expect(page).to_have_url(base + "/auth/login/code")
    page.click("text=Use a passkey")
    expect(page).to_have_url(base + "/account")

    # The browser restarts: "keep me logged in" restores the login, not its freshness; the passkey gives it back.
    page.context.clear_cookies(name="session")
    page.goto(base + "/account/passkeys")
    expect(page).to_have_url(base + "/auth/reauthenticate?next=/account/passkeys")
    page.click("text=Use a passkey")
    expect(page).to_have_url(base + "/account/passkeys")

    page.goto(base + "/account/passkeys")
    expect(page.locator("ul.cards")).to_contain_text("last used")
    page.click("ul.cards button:has-text('Remove')")
    expect(page.locator("main")).to_contain_text("No passkey yet.")
    log_out(page, base)
    page.goto(base + "/auth/login")
    page.click("text=Sign in with a passkey")  # the device still offers it; the site refuses it
    expect(page.locator("[data-passkey-error]")).to_contain_text("not accepted")
    expect(page).to_have_url(base + "/auth/login")
