"""A new user's whole journey over HTTP against the Procfile's processes, and the register page in a real browser."""
import re

import pytest
from playwright.sync_api import expect

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, Visitor, hidden_inputs

pytestmark = pytest.mark.processes

PASSWORD = "journey passphrase 42"
def test_new_user_journey_with_a_slow_mail_provider(site, mailbox):
    base, processes = site
    mailbox.delay = 5  # the provider takes 5 s per message; the sign-up must not wait for it
    visitor = Visitor(base)
    assert visitor.request("/")[0] == 200

    _, _, page = visitor.request("/auth/register")
    fields = {**hidden_inputs(page), "username": "journey", "email": "journey@example.com",
              "password": PASSWORD, "confirm": PASSWORD, "captcha": "PASSED"}
    status, headers, _ = visitor.request("/auth/register", fields)
    assert status == 303
    assert headers["Location"].endswith("/auth/check-email")
    assert mailbox.messages == [], "the sign-up answered only after the provider had taken the mail"
    assert "journey@example.com" in visitor.request("/auth/check-email")[2]

    [mail] = mailbox.wait_for(timeout=30)
    link = re.search(r"(http://\S+/auth/verify/\S+)", mail.text).group(1)
    assert link.startswith(base)
    path = link[len(base):]
    status, _, page = visitor.request(path)
    assert status == 200
    assert "Confirm my address" in page
    status, headers, _ = visitor.request(path, hidden_inputs(page))
    assert status == 303
    assert headers["Location"].endswith("/auth/login")

    status, headers, _ = visitor.submit("/auth/login", login="journey", password=PASSWORD)
    assert status == 303
    assert headers["Location"].endswith("/account")
    status, _, page = visitor.request("/account")
    assert status == 200
    assert "journey" in page
    assert "journey@example.com" in page

    status, headers, _ = visitor.request("/auth/logout", hidden_inputs(page))
    assert status == 303
    assert visitor.request("/account")[0] == 302
    assert all(code < 500 for _, code in visitor.statuses), visitor.statuses
    assert "Traceback" not in processes[0].log()
    assert "Traceback" not in processes[1].log()


def fill_sign_up(page, name):
    page.fill("input[name=username]", name)
    page.fill("input[name=email]", f"{name}@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)


def in_chromium(base, test, javascript=True):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(java_script_enabled=javascript)
            page.goto(base + "/auth/register")
            test(page)
        finally:
            browser.close()


def test_enter_in_the_captcha_field_signs_up(web):
    def test(page):
        expected = {"username": "username", "email": "email", "password": "new-password",
                    "confirm": "new-password"}
        for name, autocomplete in expected.items():
            assert page.get_attribute(f"input[name={name}]", "autocomplete") == autocomplete
        image = page.locator("fieldset.captcha img")
        assert image.evaluate("img => img.complete && img.naturalWidth") == 270
        fill_sign_up(page, "browser_user")
        page.fill("input[name=captcha]", "PASSED")
        page.press("input[name=captcha]", "Enter")  # the form's default button is "Create account"
        page.wait_for_url("**/auth/check-email")
        assert page.locator("h1").inner_text() == "Check your inbox"
        assert page.input_value("input[name=email]") == "browser_user@example.com"
        assert page.get_attribute("input[name=code]", "autocomplete") == "one-time-code"
    in_chromium(web, test)


def test_new_picture_swaps_in_place_and_keeps_every_typed_field(web):
    def test(page):
        fill_sign_up(page, "swapper")
        page.fill("input[name=captcha]", "AB")
        old_id = page.input_value("input[name=captcha_id]")
        page.evaluate("window.notReloaded = true")
        page.click("button:text('Show a new picture')")
        # expect() polls from Playwright's own world: a polling wait_for_function needs eval, which our CSP forbids
        expect(page.locator("input[name=captcha_id]")).not_to_have_value(old_id)
        new_id = page.input_value("input[name=captcha_id]")
        assert page.evaluate("window.notReloaded") is True
        assert page.get_attribute("fieldset.captcha img", "src") == f"/captcha/{new_id}.png"
        assert page.get_attribute("fieldset.captcha audio", "src") == f"/captcha/{new_id}.wav?lang=en"
        expect(page.locator("fieldset.captcha img")).to_have_js_property("naturalWidth", 270)  # the new one drawn
        assert page.locator("[role=status]").inner_text() == "New picture and audio ready."
        for name, value in (("username", "swapper"), ("email", "swapper@example.com"),
                            ("password", PASSWORD), ("confirm", PASSWORD), ("captcha", "")):
            assert page.input_value(f"input[name={name}]") == value
        assert page.request.get(f"{web}/captcha/{old_id}.png").status == 404  # the old challenge is spent
        page.fill("input[name=captcha]", "PASSED")
        page.press("input[name=email]", "Enter")  # Enter in any field, not only the last one
        page.wait_for_url("**/auth/check-email")
    in_chromium(web, test)


def test_new_picture_works_without_javascript(web):
    def test(page):
        fill_sign_up(page, "nojs_user")
        old_id = page.input_value("input[name=captcha_id]")
        with page.expect_navigation():
            page.click("button:text('Show a new picture')")
        assert page.input_value("input[name=captcha_id]") != old_id
        assert page.input_value("input[name=username]") == "nojs_user"
        assert page.input_value("input[name=email]") == "nojs_user@example.com"
        assert page.evaluate("document.activeElement.name") == "captcha"  # the field left to fill
        page.fill("input[name=password]", PASSWORD)  # passwords are never sent back in a page
        page.fill("input[name=confirm]", PASSWORD)
        page.fill("input[name=captcha]", "PASSED")
        page.press("input[name=captcha]", "Enter")
        page.wait_for_url("**/auth/check-email")
    in_chromium(web, test, javascript=False)
