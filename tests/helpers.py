"""Helpers shared by the test modules: forms as a browser fills them, mail, and an HTTP visitor.

Test modules import from here (and from tests.services for real processes), never from each other.
"""
import http.cookiejar
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pyotp
from sqlalchemy import func, insert, select, update

from app.accounts import tokens, twofactor
from app.extensions import db
from app.models import Event, OutboxMail, User, utcnow
from app.outbox import compose

PASSWORD = "correct horse battery"
HEALTHZ_TOKEN = "test-healthz-token"
HEALTHZ = {"Authorization": f"Bearer {HEALTHZ_TOKEN}"}  # /healthz's details (the public sees ok / not ok)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's; elsewhere point CHROMIUM at a Chromium or Chrome
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def hidden_inputs(html):
    """The hidden fields of a server-rendered form (csrf_token, captcha id), as a browser would send them."""
    fields = {}
    for tag in re.findall(r"<input[^>]*type=\"hidden\"[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


# Forms through Flask's test client.

def form_page(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return hidden_inputs(response.get_data(as_text=True))


def register(client, username="alice", email="alice@example.com", password=PASSWORD, confirm=None,
             captcha="PASSED"):
    fields = form_page(client, "/auth/register")
    fields.update(username=username, email=email, password=password,
                  confirm=password if confirm is None else confirm, captcha=captcha)
    return client.post("/auth/register", data=fields)


def post_form(client, url, **data):
    return client.post(url, data={**form_page(client, url), **data})


def confirm(client, path):
    return client.post(path, data=hidden_inputs(client.get(path).get_data(as_text=True)))


def login(client, login="alice", password=PASSWORD, **extra):
    return post_form(client, "/auth/login" + extra.pop("query", ""), login=login, password=password, **extra)


def enrol_app(client):
    """Enrol the authenticator app as a person would: read the key under the QR code, type the app's code.

    Returns (secret, the ten recovery codes shown).
    """
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "<svg" in page  # the QR code, drawn on the server
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    done = post_form(client, "/account/two-factor", code=pyotp.TOTP(secret).now())
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.get_data(as_text=True))
    return secret, codes


def with_app_codes(user, secret):
    """Turn on `user`'s authenticator app with `secret`, as enrolment would (the caller commits)."""
    user.totp_secret, user.totp_enabled_at = twofactor.seal(secret), utcnow()


def make_admin(app, username="alice", secret=None):
    """Make an account an administrator, with the authenticator app /admin/ requires."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        user.is_admin = True
        with_app_codes(user, secret or pyotp.random_base32())
        db.session.commit()


def app_code(app, secret, username="alice"):
    """The app's code for a time step the account has not used yet (each code signs in once).

    The current step first, then the next: both stay inside the server's window of one step either side even when
    the clock turns a step between here and the server's check (the previous step would then be two behind).
    """
    with app.app_context():
        last = db.session.scalar(select(User.totp_last_step).where(User.username == username))
    totp, now = pyotp.TOTP(secret), int(time.time() // 30)
    step = next(s for s in (now, now + 1) if last is None or s > last)
    return totp.at(step * 30)


def second_step(client, app, secret, username="alice"):
    """After a right password: type the app's code on /auth/login/code."""
    return post_form(client, "/auth/login/code", code=app_code(app, secret, username))


def logged_in(app, remember=False):
    """A new client logged in as alice (registered and verified by the test)."""
    client = app.test_client()
    assert login(client, remember="y" if remember else "").status_code == 303
    return client


def opens_account(client):
    return client.get("/account").status_code == 200


def register_verified(client, run_jobs, mailbox, **kwargs):
    assert register(client, **kwargs).status_code == 303
    mail = deliver(run_jobs, mailbox)[-1]
    assert confirm(client, link_in(mail)).status_code == 303
    return mail


# Mail.

def link_in(mail):
    return re.search(r"http://localhost:5000(/(?:auth/verify|auth/reset|account/email)/\S+)", mail.text).group(1)


def code_in(mail):
    return re.search(r"\b(\d{6})\b", mail.text).group(1)


def deliver(run_jobs, mailbox, count=1):
    run_jobs()
    return mailbox.wait_for(lambda messages: len(messages) >= count, timeout=10)


def new_mail(address):
    """A verification row as a sign-up leaves it: user and outbox row committed together (app context)."""
    user = User(username=address.partition("@")[0], email=address, password_hash="x")
    db.session.add(user)
    tokens.issue_code(user)
    row = compose("verify", address, user=user)
    db.session.commit()
    return row.id


def outbox_row(outbox_id):
    db.session.expire_all()
    return db.session.get(OutboxMail, outbox_id)


def backlog(count, prefix="bulk"):
    """`count` due verification rows for one account, inserted in one statement, as a burst of sign-ups."""
    owner = new_mail(f"{prefix}-owner@example.com")
    db.session.execute(update(OutboxMail).where(OutboxMail.id == owner).values(status=OutboxMail.SENT))
    now = utcnow() - timedelta(seconds=1)
    recipients = [f"{prefix}{i}@example.com" for i in range(count)]
    db.session.execute(insert(OutboxMail), [dict(kind="verify", recipient=recipient, user_id=outbox_row(owner).user_id,
                                                 params={}, next_attempt_at=now) for recipient in recipients])
    db.session.commit()
    return db.session.scalars(select(OutboxMail.id).where(OutboxMail.recipient.in_(recipients))
                              .order_by(OutboxMail.id)).all()


# The database, read from outside a request.

def events(app, kind):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind))


def users(app):
    with app.app_context():
        return db.session.scalars(select(User)).all()


def outbox(app):
    with app.app_context():
        return db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()


class Visitor:
    """A cookie-keeping HTTP client for the real web process; it does not follow redirects."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), self._NoRedirect())
        self.statuses = []

    def request(self, path, data=None, headers=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            response = self.opener.open(request, timeout=10)
        except urllib.error.HTTPError as error:
            response = error
        page = response.read().decode()
        self.statuses.append((path, response.status))
        return response.status, response.headers, page

    def submit(self, path, **fields):
        """GET the form, keep its hidden fields (csrf_token, captcha id), POST it with the visible ones."""
        status, _, page = self.request(path)
        assert status == 200, (path, status)
        return self.request(path, {**hidden_inputs(page), **fields})


def answer_before_the_body(port, path, content_type, length, sent=65536):
    """Announce a `length`-byte body, send only `sent` bytes of it, and read what the server answers."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode() + b"x" * sent)
        answer = b""
        while b"</html>" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


# Over HTTP against the Procfile's processes.

def mail_to(mailbox, address, subject):
    """Wait for the mail with this subject to this address; return its text."""
    def found(messages):
        return [m for m in messages if m.recipients == [address] and m.subject == subject]
    mailbox.wait_for(found, timeout=30)
    return found(mailbox.messages)[-1].text


def path_in(base, text, prefix):
    return re.search(re.escape(base) + r"(" + re.escape(prefix) + r"\S+)", text).group(1)


def visitor_copy(visitor):
    """Someone holding copies of every cookie the visitor has now, session and remember cookie alike."""
    thief = Visitor(visitor.base)
    for cookie in visitor.cookies:
        thief.cookies.set_cookie(cookie)
    assert {c.name for c in thief.cookies} >= {"session", "remember_token"}
    return thief


def visitor_opens_account(visitor):
    return visitor.request("/account")[0] == 200


def visitor_logged_in(base, login, password):
    visitor = Visitor(base)
    status, headers, _ = visitor.submit("/auth/login", login=login, password=password, remember="y")
    assert status == 303, status
    assert headers["Location"].endswith("/account"), status
    return visitor


def confirm_over_http(visitor, path):
    status, _, page = visitor.request(path)
    assert status == 200, status
    return visitor.request(path, hidden_inputs(page))
