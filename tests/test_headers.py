"""Security headers on every kind of response, Referer kept off token pages, HSTS in production, 413."""
import os
import re

import pytest

from tests.helpers import deliver, hidden_inputs, link_in, register
from tests.services import ROOT

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


def assert_secured(response):
    headers = response.headers
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("no-referrer", "strict-origin-when-cross-origin")
    assert "Strict-Transport-Security" not in headers  # testing runs on http


def test_pages_pictures_static_files_and_errors_all_carry_the_headers(client):
    page = client.get("/auth/register")
    challenge = hidden_inputs(page.get_data(as_text=True))["captcha_id"]
    responses = {
        "page": page,
        "picture": client.get(f"/captcha/{challenge}.png"),
        "static": client.get("/static/style.css"),
        "404": client.get("/no/such/page"),
        "405": client.get("/auth/logout"),
        "400": client.post("/auth/login", data={"login": "alice"}),  # no CSRF token
        "redirect": client.get("/account"),
    }
    assert {name: r.status_code for name, r in responses.items()} == {
        "page": 200, "picture": 200, "static": 200, "404": 404, "405": 405, "400": 400, "redirect": 302}
    for response in responses.values():
        assert_secured(response)
    assert responses["page"].headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_reached_by_a_mailed_token_send_no_referer(app, client, mailbox, run_jobs):
    register(client)
    path = link_in(deliver(run_jobs, mailbox)[0])
    for response in (client.get(path), client.get("/auth/reset/not-a-valid-token")):
        assert_secured(response)
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_hsts_only_in_production(make_app):
    production = make_app(APP_ENV="production", CAPTCHA_TEST_MODE="false")
    response = production.test_client().get("/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response.headers["Content-Security-Policy"] == CSP


@pytest.mark.parametrize("size", [2 * 1024 * 1024, 20 * 1024 * 1024])
def test_an_oversized_body_gets_a_413_page(client, size):
    response = client.post("/auth/login", data=b"x" * size, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "Too much at once" in response.get_data(as_text=True)
    assert_secured(response)


def test_max_content_length_is_configuration(make_app):
    small = make_app(MAX_CONTENT_LENGTH="2048")
    response = small.test_client().post("/auth/login", data={"login": "a" * 3000, "password": "x"})
    assert response.status_code == 413


def test_templates_have_no_inline_script_or_style():
    """The CSP refuses inline code, so none may hide in a page template (mail templates are not pages)."""
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", re.IGNORECASE)
    templates = os.path.join(ROOT, "templates")
    found = []
    for folder, _, files in os.walk(templates):
        if os.path.relpath(folder, templates).startswith("email"):
            continue
        for name in files:
            with open(os.path.join(folder, name)) as f:
                found += [f"{name}: {m.group(0)}" for m in inline.finditer(f.read())]
    assert found == []
