"""The whole round trip in Chromium: our login page, the provider's login and consent pages, back signed in."""
import pytest
from playwright.sync_api import expect

from tests.services import start_site

pytestmark = pytest.mark.processes


@pytest.fixture
def site(app_env, tmp_path, oidc_provider):
    """The Procfile's web with the suite's provider configured as "test" (its callback on this free port)."""
    oidc_provider.set_accounts({"carol": {"email": "carol@example.com", "email_verified": True, "name": "Carol"}})
    client_id, secret = oidc_provider.clients[0]
    env = {**app_env, "OIDC_PROVIDERS": "test", "OIDC_TEST_ISSUER": oidc_provider.issuer,
           "OIDC_TEST_CLIENT_ID": client_id, "OIDC_TEST_CLIENT_SECRET": secret, "OIDC_TEST_LABEL": "Test ID"}
    base, processes = start_site(env, str(tmp_path), ("web",))
    try:
        yield base
    finally:
        for process in processes:
            process.stop(timeout=5)


def test_sign_up_through_the_providers_pages_in_two_clicks(site, browser):
    base = site
    page = browser.new_page()
    page.route("https://fonts.googleapis.com/**", lambda route: route.abort())  # the provider's pages import a font
    page.goto(base + "/auth/login")
    page.click("text=Sign in with Test ID")
    page.fill("input[name=login]", "carol")
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.click("button:has-text('Continue')")  # the provider's consent
    expect(page).to_have_url(base + "/account")
    expect(page.locator(".flash")).to_contain_text("Your account is made with Test ID")
    expect(page.locator("nav")).to_contain_text("Carol")

    page.goto(base + "/account/providers")
    expect(page.locator("ul.cards")).to_contain_text("carol@example.com")

    page.click("nav button:has-text('Log out')")
    page.goto(base + "/auth/login")
    page.click("text=Sign in with Test ID")
    page.click("button:has-text('Continue')")  # still signed in at the provider: consent only
    expect(page).to_have_url(base + "/account")


def test_cancelling_at_the_provider_ends_on_our_page_with_a_way_back(site, browser):
    base = site
    page = browser.new_page()
    page.route("https://fonts.googleapis.com/**", lambda route: route.abort())
    page.goto(base + "/auth/register")
    page.click("text=Sign in with Test ID")
    page.click("a:has-text('Cancel')")
    expect(page.locator("h1")).to_contain_text("Sign-in with Test ID did not work")
    page.click("text=Back to the login page")
    expect(page).to_have_url(base + "/auth/login")
