"""One person's account over HTTP against the Procfile's web and worker: sessions end, mail arrives."""
import re
import time

import pyotp
import pytest

from tests.helpers import Visitor, hidden_inputs, mail_to, path_in
from tests.helpers import confirm_over_http as confirm
from tests.helpers import visitor_copy as copy_of
from tests.helpers import visitor_logged_in as logged_in
from tests.helpers import visitor_opens_account as opens_account

pytestmark = pytest.mark.processes

PASSWORD, NEW_PASSWORD = "journey passphrase 42", "another journey phrase 7"


def test_account_lifecycle_against_the_procfile_processes(site, mailbox):
    base, processes = site
    me = Visitor(base)
    status, _, _ = me.submit("/auth/register", username="journey", email="journey@example.com",
                             password=PASSWORD, confirm=PASSWORD, captcha="PASSED")
    assert status == 303
    assert confirm(me, path_in(base, mail_to(mailbox, "journey@example.com", "Confirm your email address"),
                               "/auth/verify/"))[0] == 303

    # A password change: the other device and a copy of this one's old cookies are out; this one stays.
    me, phone = logged_in(base, "journey", PASSWORD), logged_in(base, "journey", PASSWORD)
    thief = copy_of(me)
    assert opens_account(thief)
    status, _, _ = me.submit("/account/password", current_password=PASSWORD, password=NEW_PASSWORD,
                             confirm=NEW_PASSWORD)
    assert status == 303
    assert opens_account(me)
    assert not opens_account(phone)
    assert not opens_account(thief)
    assert "changed on your account page" in mail_to(mailbox, "journey@example.com", "Your password was changed")

    # A new address: nothing changes until the link mailed there is used; the old address is told.
    status, _, _ = me.submit("/account/email", email="moved@example.com", current_password=NEW_PASSWORD)
    assert status == 303
    link = path_in(base, mail_to(mailbox, "moved@example.com", "Confirm your new email address"), "/account/email/")
    assert "journey@example.com" in me.request("/account")[2]
    assert confirm(Visitor(base), link)[0] == 303
    assert "moved@example.com" in mail_to(mailbox, "journey@example.com", "Your email address was changed")
    assert not opens_account(me)

    # Logging out makes copies of both cookies worthless.
    me = logged_in(base, "moved@example.com", NEW_PASSWORD)
    thief = copy_of(me)
    status, _, page = me.request("/account")
    assert me.request("/auth/logout", hidden_inputs(page))[0] == 303
    assert not opens_account(me)
    assert not opens_account(thief)

    # Deletion: the account is gone and the address gets a confirmation.
    me = logged_in(base, "moved@example.com", NEW_PASSWORD)
    status, _, _ = me.submit("/account/delete", current_password=NEW_PASSWORD)
    assert status == 303
    assert not opens_account(me)
    assert "your account is deleted" in mail_to(mailbox, "moved@example.com", "Your account is deleted")
    status, _, _ = Visitor(base).submit("/auth/login", login="moved@example.com", password=NEW_PASSWORD)
    assert status == 400

    assert all(code < 500 for _, code in me.statuses), me.statuses
    assert all("Traceback" not in process.log() for process in processes)


def test_two_factor_journey_against_the_procfile_processes(site, mailbox):
    """Enrol the app from the key under the QR code, then sign in with password and code; the password alone opens nothing."""
    base, _ = site
    me = Visitor(base)
    me.submit("/auth/register", username="second", email="second@example.com", password=PASSWORD, confirm=PASSWORD,
              captcha="PASSED")
    confirm(me, path_in(base, mail_to(mailbox, "second@example.com", "Confirm your email address"), "/auth/verify/"))
    me = logged_in(base, "second", PASSWORD)
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', me.request("/account/two-factor")[2]).group(1)
    totp = pyotp.TOTP(secret.replace(" ", ""))
    status, _, page = me.submit("/account/two-factor", code=totp.now())
    assert status == 200
    assert len(re.findall(r"<li><code>[a-z2-9]{5}-[a-z2-9]{5}</code></li>", page)) == 10
    assert "authenticator app was set up" in mail_to(mailbox, "second@example.com", "Security of your account")

    visitor = Visitor(base)
    status, headers, _ = visitor.submit("/auth/login", login="second", password=PASSWORD)
    assert (status, headers["Location"]) == (303, "/auth/login/code")
    assert not opens_account(visitor)
    code = totp.at(time.time() + 30)  # the next step's code: the one above was used at enrolment
    status, headers, _ = visitor.submit("/auth/login/code", code=code)
    assert (status, headers["Location"]) == (303, "/account")
    assert opens_account(visitor)
