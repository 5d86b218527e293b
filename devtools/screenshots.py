"""`make screenshots`: the README's pictures, taken in Chromium over the whole stack started here on free ports.

It starts its own redis-server, mail sink, release, web and worker (never the developer's 6379), signs a
user up in the browser as a person would (the mail's code confirms the address), makes an administrator
with `flask create-admin`, and saves each row of SHOTS under docs/screenshots/.
"""
import argparse
import io
import os
import re
import secrets
import shutil
import tempfile

import pyotp
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from tests.helpers import CHROMIUM, CHROMIUM_ARGS
from tests.services import ROOT, RedisServer, SmtpSink, flask_cli, start_site

OUT = os.path.join(ROOT, "docs", "screenshots")
PASSWORD = "screenshot passphrase 42"

# The pictures, in the order they are taken. `visitor`: who is looking ("anonymous"; "signed-up": alice
# right after her sign-up; "alice": her account, confirmed and logged in; "operator": an administrator).
# `language`: the browser's Accept-Language. `width`: the viewport in CSS pixels (360: a phone).
SHOTS = [
    # file              path                  visitor      language  width
    ("sign-up",         "/auth/register",     "anonymous", "en",     960),
    ("check-inbox",     "/auth/check-email",  "signed-up", "en",     960),
    ("login",           "/auth/login",        "anonymous", "en",     960),
    ("account",         "/account",           "alice",     "en",     960),
    ("admin",           "/admin/",            "operator",  "en",     960),
    ("sign-up-zh",      "/auth/register",     "anonymous", "zh-CN",  960),
    ("sign-up-phone",   "/auth/register",     "anonymous", "en",     360),
    # Second factors and sessions, at a desktop's and a phone's width: enrolment (before any factor), the
    # sessions of alice's two browsers, her passkeys (each width's browser adds one), the code step.
    ("two-factor-1280", "/account/two-factor", "alice",    "en",     1280),
    ("two-factor-360",  "/account/two-factor", "alice",    "en",     360),
    ("sessions-1280",   "/account/sessions",  "alice",     "en",     1280),
    ("sessions-360",    "/account/sessions",  "alice",     "en",     360),
    ("passkeys-1280",   "/account/passkeys",  "alice",     "en",     1280),
    ("passkeys-360",    "/account/passkeys",  "alice",     "en",     360),
    ("login-code-1280", "/auth/login/code",   "second-step", "en",   1280),
    ("login-code-360",  "/auth/login/code",   "second-step", "en",   360),
]
# What a browser says it is, so that the sessions page shows a phone and a desktop rather than "headless".
USER_AGENTS = {
    360: "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 "
         "Mobile Safari/537.36",
    1280: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 "
          "Safari/537.36",
}
PASSKEY_NAMES = {360: "Phone", 1280: "Work laptop"}


class Pictures:
    """One browser context per (visitor, language, width), prepared the first time a shot needs it."""

    def __init__(self, browser, base, sink, env):
        self.browser, self.base, self.sink, self.env = browser, base, sink, env
        self.pages = {}
        self.alice_confirmed = False

    def page(self, visitor, language, width):
        key = (visitor, language, width)
        if key not in self.pages:
            # A short viewport: full_page then crops each picture to the page's own height.
            context = self.browser.new_context(viewport={"width": width, "height": 400}, locale=language,
                                               extra_http_headers={"Accept-Language": language},
                                               user_agent=USER_AGENTS.get(width))
            self.pages[key] = page = context.new_page()
            add_authenticator(page)
            getattr(self, f"prepare_{visitor.replace('-', '_')}")(page, language)
        return self.pages[key]

    def prepare_anonymous(self, page, language):
        pass

    def prepare_signed_up(self, page, language):
        """alice signs up; the worker sends her mail and the page says so by itself."""
        page.goto(self.base + "/auth/register")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=email]", "alice@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.fill("input[name=confirm]", PASSWORD)
        page.fill("input[name=captcha]", "PASSED")  # CAPTCHA_TEST_MODE: the stack runs as development
        page.press("input[name=captcha]", "Enter")
        expect(page.locator("[data-delivery]")).to_have_attribute("data-state", "sent", timeout=30_000)

    def prepare_alice(self, page, language):
        """The code from alice's mail confirms her address (in a tab of her sign-up), then she logs in."""
        if not self.alice_confirmed:
            self.confirm_alice(language)
            self.alice_confirmed = True
        self.log_in(page, "alice")

    def confirm_alice(self, language):
        signed_up = self.page("signed-up", language, 960)
        [mail] = self.sink.handler.wait_for(timeout=30)
        code = re.search(r"\b(\d{6})\b", mail.text).group(1)
        confirm = signed_up.context.new_page()
        confirm.goto(self.base + "/auth/check-email")
        confirm.fill("input[name=code]", code)
        confirm.press("input[name=code]", "Enter")
        expect(confirm).to_have_url(self.base + "/auth/login")
        confirm.close()

    def prepare_operator(self, page, language):
        """An administrator looking at a month of made-up sign-ups (`flask demo-data`), not an empty chart."""
        for command in (("demo-data", "--days", "30"), ("create-admin", "operator", "operator@example.com")):
            result = flask_cli(*command, env={**self.env, "ADMIN_PASSWORD": PASSWORD})
            if result.returncode != 0:
                raise RuntimeError(f"{command[0]} failed: {result.stderr}")
        self.log_in(page, "operator")
        page.goto(self.base + "/admin/")  # sent to set up a second factor first, as create-admin says
        self.operator_secret = page.locator("code.secret").text_content().replace(" ", "")
        page.fill("input[name=code]", pyotp.TOTP(self.operator_secret).now())
        page.press("input[name=code]", "Enter")
        expect(page.locator("ol.codes li")).to_have_count(10)

    def prepare_second_step(self, page, language):
        """The operator's password typed in another browser: the code step comes next."""
        if not hasattr(self, "operator_secret"):
            self.page("operator", language, 960)
        self.log_in(page, "operator", then="/auth/login/code")

    def log_in(self, page, name, then="/account"):
        page.goto(self.base + "/auth/login")
        page.fill("input[name=login]", name)
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        expect(page).to_have_url(self.base + then)

    def take(self, name, path, visitor, language, width):
        page = self.page(visitor, language, width)
        if page.url != self.base + path:
            page.goto(self.base + path)
        if name.startswith("passkeys-"):  # this browser's authenticator makes one, as a person would
            page.fill("input[name=name]", PASSKEY_NAMES[width])
            page.press("input[name=name]", "Enter")
            expect(page.locator("ul.cards")).to_contain_text(PASSKEY_NAMES[width])
        page.evaluate("document.activeElement && document.activeElement.blur()")  # no caret in the picture
        return save(page.screenshot(full_page=True, animations="disabled"), name)


def add_authenticator(page):
    """A platform authenticator with a fingerprint reader that agrees (DevTools' WebAuthn domain)."""
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})


def save(png, name):
    """A palette PNG: the pages are flat colours and text, so 256 colours keep them sharp at a third the size."""
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    path = os.path.join(OUT, f"{name}.png")
    image.save(path, optimize=True)
    return path


def stack_env(workdir, redis, sink):
    return {
        "APP_ENV": "development",
        "SECRET_KEY": secrets.token_hex(24),
        "DATABASE_URL": f"sqlite:///{workdir}/app.sqlite3",
        "REDIS_URL": redis.url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(sink.port),
        "MAIL_DEFAULT_SENDER": "Sign-up <no-reply@signup.test>",
        "BACKUP_DIR": os.path.join(workdir, "backups"),
        "CAPTCHA_TEST_MODE": "true",
        "EMAIL_CHECK_DELIVERABILITY": "false",  # the example addresses have no mail server
        "TIMEZONE": "Asia/Shanghai",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="only these shots (default: every row of SHOTS)")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="screenshots-")
    redis, sink, processes = RedisServer().start(), SmtpSink().start(), []
    try:
        env = stack_env(workdir, redis, sink)
        base, processes = start_site(env, workdir, ("web", "worker", "worker-bulk"), host="localhost")  # passkeys need a name
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pictures = Pictures(browser, base, sink, env)
            for shot in SHOTS:
                if not args.names or shot[0] in args.names:
                    path = pictures.take(*shot)
                    print(f"{os.path.relpath(path, ROOT)}  {os.path.getsize(path) // 1024} KB")
            browser.close()
    finally:
        for process in processes:
            process.stop(timeout=10)
        sink.stop()
        redis.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
