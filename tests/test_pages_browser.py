"""What people see, in Chromium against the Procfile's processes: the live delivery state, contrast, phone width."""
import pyotp
import pytest
from playwright.sync_api import expect

from tests.services import Process, flask_cli, start_site

pytestmark = pytest.mark.processes

PASSWORD = "browser passphrase 42"
PAGES = ["/", "/auth/register", "/auth/login", "/auth/check-email", "/auth/forgot", "/auth/resend", "/no-such-page"]
ACCOUNT_PAGES = ["/account", "/account/password", "/account/email", "/account/sessions", "/account/delete",
                 "/account/two-factor", "/account/passkeys", "/admin/users"]

# WCAG's relative luminance and contrast ratio of the element's colour against the first opaque background
# behind it (the header's, for the Log out button).
CONTRAST = """element => {
  const rgb = text => text.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  let node = element, background = null;
  while (node) {
    const colour = rgb(getComputedStyle(node).backgroundColor);
    if (colour.length < 4 || colour[3] > 0) { background = colour; break; }
    node = node.parentElement;
  }
  background = background || [255, 255, 255];
  const [a, b] = [luminance(rgb(getComputedStyle(element).color)), luminance(background)];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture
def stack(app_env, tmp_path):
    """web only: the test starts the worker itself once the page has shown the mail queued."""
    processes = []
    try:
        base, processes = start_site(app_env, str(tmp_path), ("web",))
        yield base, processes
    finally:
        for process in processes:
            process.stop(timeout=5)


def sign_up(page, base, name):
    page.goto(base + "/auth/register")
    page.fill("input[name=username]", name)
    page.fill("input[name=email]", f"{name}@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.fill("input[name=captcha]", "PASSED")
    page.press("input[name=captcha]", "Enter")
    expect(page).to_have_url(base + "/auth/check-email")


def test_check_your_inbox_turns_to_sent_by_itself(stack, browser, app_env, tmp_path, mailbox):
    base, processes = stack
    page = browser.new_page()
    sign_up(page, base, "livestate")
    state = page.locator("[data-delivery]")
    expect(state).to_have_attribute("data-state", "queued")
    expect(page.locator("a.refresh")).to_be_hidden()  # the page updates itself
    expect(page.locator("form.send-again")).to_be_hidden()

    processes.append(Process("worker", app_env, str(tmp_path)).start())
    expect(state).to_have_attribute("data-state", "sent", timeout=30_000)
    expect(state.locator(".state")).to_have_text("Sent")
    assert mailbox.wait_for(timeout=10)[0].recipients == ["livestate@example.com"]


def test_without_javascript_the_page_shows_the_state_and_a_check_again_link(stack, browser):
    base, _ = stack
    page = browser.new_page(java_script_enabled=False)
    sign_up(page, base, "noscript")
    expect(page.locator("[data-delivery]")).to_have_attribute("data-state", "queued")
    page.click("a.refresh")
    expect(page.locator("[data-delivery] .state")).to_have_text("Queued")


def test_a_form_sent_back_puts_the_cursor_in_its_first_invalid_field(stack, browser):
    base, _ = stack
    page = browser.new_page()
    page.goto(base + "/auth/register")
    page.fill("input[name=username]", "fine_name")
    page.fill("input[name=email]", "not an address")
    page.press("input[name=email]", "Enter")
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email")).to_be_focused()


def log_in(page, base, env):
    result = flask_cli("create-admin", "operator", "operator@example.com", env={**env, "ADMIN_PASSWORD": PASSWORD})
    assert result.returncode == 0, result.stderr
    page.goto(base + "/auth/login")
    page.fill("input[name=login]", "operator")
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    expect(page).to_have_url(base + "/account")
    page.goto(base + "/admin/users")  # an administrator sets up a second factor first, as create-admin says
    expect(page).to_have_url(base + "/account/two-factor")
    secret = page.locator("code.secret").text_content().replace(" ", "")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.press("input[name=code]", "Enter")
    expect(page.locator("ol.codes li")).to_have_count(10)


def test_log_out_button_has_enough_contrast(stack, browser, app_env):
    base, _ = stack
    page = browser.new_page()
    log_in(page, base, app_env)
    button = page.get_by_role("button", name="Log out")
    expect(button).to_be_visible()
    assert button.evaluate(CONTRAST) >= 4.5


def test_no_page_is_wider_than_a_phone(stack, browser, app_env):
    base, _ = stack
    page = browser.new_page(viewport={"width": 360, "height": 740})
    too_wide = {}
    for path in PAGES:
        page.goto(base + path)
        too_wide[path] = page.evaluate("document.documentElement.scrollWidth")
    log_in(page, base, app_env)
    for path in ACCOUNT_PAGES:
        page.goto(base + path)
        expect(page).to_have_url(base + path)  # the page itself, not where a redirect leads
        expect(page.locator("main h1")).to_be_visible()
        too_wide[path] = page.evaluate("document.documentElement.scrollWidth")
    assert {path: width for path, width in too_wide.items() if width > 360} == {}
