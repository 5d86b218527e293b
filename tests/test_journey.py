"""A new user's whole journey over HTTP against the Procfile's processes, and the register page in a real browser."""
import re

import pytest

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, Visitor, hidden_inputs
from tests.services import start_site

pytestmark = pytest.mark.processes

PASSWORD = "journey passphrase 42"
@pytest.fixture
def site(app_env, tmp_path):
    processes = []
    try:
        base, processes = start_site(app_env, str(tmp_path), ("web", "worker"))
        yield base, processes
    finally:
        for process in processes:
            process.stop(timeout=5)  # how the worker shuts down is the reliability tests' subject, not this one


@pytest.fixture
def web(app_env, tmp_path):
    """The browser test needs no worker: the page, the captcha and the redirect are all the web's."""
    processes = []
    try:
        base, processes = start_site(app_env, str(tmp_path), ("web",))
        yield base
    finally:
        for process in processes:
            process.stop(timeout=5)  # how the worker shuts down is the reliability tests' subject, not this one


def test_new_user_journey_with_a_slow_mail_provider(site, mailbox):
    base, processes = site
    mailbox.delay = 5  # the provider takes 5 s per message; the sign-up must not wait for it
    visitor = Visitor(base)
    assert visitor.request("/")[0] == 200

    _, _, page = visitor.request("/auth/register")
    fields = {**hidden_inputs(page), "username": "journey", "email": "journey@example.com",
              "password": PASSWORD, "confirm": PASSWORD, "captcha": "PASSED"}
    status, headers, _ = visitor.request("/auth/register", fields)
    assert status == 303 and headers["Location"].endswith("/auth/check-email")
    assert mailbox.messages == [], "the sign-up answered only after the provider had taken the mail"
    assert "journey@example.com" in visitor.request("/auth/check-email")[2]

    [mail] = mailbox.wait_for(timeout=30)
    link = re.search(r"(http://\S+/auth/verify/\S+)", mail.text).group(1)
    assert link.startswith(base)
    path = link[len(base):]
    status, _, page = visitor.request(path)
    assert status == 200 and "Confirm my address" in page
    status, headers, _ = visitor.request(path, hidden_inputs(page))
    assert status == 303 and headers["Location"].endswith("/auth/login")

    status, headers, _ = visitor.submit("/auth/login", login="journey", password=PASSWORD)
    assert status == 303 and headers["Location"].endswith("/account")
    status, _, page = visitor.request("/account")
    assert status == 200 and "journey" in page and "journey@example.com" in page

    status, headers, _ = visitor.request("/auth/logout", hidden_inputs(page))
    assert status == 303
    assert visitor.request("/account")[0] == 302
    assert all(code < 500 for _, code in visitor.statuses), visitor.statuses
    assert "Traceback" not in processes[0].log() and "Traceback" not in processes[1].log()


def test_register_page_in_a_real_browser(web):
    from playwright.sync_api import sync_playwright

    base = web
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(base + "/auth/register")
            expected = {"username": "username", "email": "email", "password": "new-password",
                        "confirm": "new-password"}
            for name, autocomplete in expected.items():
                assert page.get_attribute(f"input[name={name}]", "autocomplete") == autocomplete
            image = page.locator("fieldset.captcha img")
            assert image.evaluate("img => img.complete && img.naturalWidth") == 160
            page.fill("input[name=username]", "browser_user")
            page.fill("input[name=email]", "browser@example.com")
            page.fill("input[name=password]", PASSWORD)
            page.fill("input[name=confirm]", PASSWORD)
            page.fill("input[name=captcha]", "PASSED")
            page.click("button:text('Create account')")
            page.wait_for_url("**/auth/check-email")
            assert page.locator("h1").inner_text() == "Check your inbox"
            assert page.input_value("input[name=email]") == "browser@example.com"
            assert page.get_attribute("input[name=code]", "autocomplete") == "one-time-code"
        finally:
            browser.close()
