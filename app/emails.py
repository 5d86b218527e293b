"""The mails the app sends, by kind: subject, template pair and what the worker mints into them at send time.

Adding a kind: write templates/email/<template>.txt and .html (each begins with a comment listing its
context), add a Kind here whose context function builds the links and codes from the account's current
state, then call outbox.compose("<kind>", address, user=user, **params) and, after the commit, outbox.wake().
"""
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from app import ratelimit
from app.accounts import tokens
from app.flask_mail_overrides import Message

class Cancelled(Exception):
    """Nothing left to send: the account is gone, or the mail's purpose was met before it went out."""


@dataclass(frozen=True)
class Kind:
    subject: str  # lazy: translated when the mail is rendered, in the row's language
    template: str
    context: Callable  # (user, params) -> template context; may raise Cancelled
    budget: str = ratelimit.ANYONE  # which of the mailbox's budgets it spends (app/ratelimit.py); None: none


def absolute_url(endpoint, **values):
    """Build a link from BASE_URL, since the worker (and the CLI) have no request to take a host from."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)


def account(user):
    if user is None:
        raise Cancelled("the account no longer exists")
    return user


def verify_context(user, params):
    """A fresh link (stateless, bound to the account) and the outstanding code, the same on every retry."""
    code = tokens.current_code(account(user))
    if user.is_verified or code is None:
        raise Cancelled("the address was verified before the mail went out")
    return {"link": absolute_url("auth.verify", token=tokens.make_token(user, tokens.VERIFY)), "code": code,
            "hours": current_app.config["VERIFY_TOKEN_MAX_AGE"] // 3600}


def reset_context(user, params):
    return {"link": absolute_url("auth.reset", token=tokens.make_token(account(user), tokens.RESET)),
            "minutes": current_app.config["RESET_TOKEN_MAX_AGE"] // 60}


def already_registered_context(user, params):
    account(user)
    return {"login_url": absolute_url("auth.login"), "forgot_url": absolute_url("auth.forgot")}


def password_changed_context(user, params):
    account(user)
    return {"forgot_url": absolute_url("auth.forgot")}


def email_change_context(user, params):
    """The link to the new address, minted now; cancelled if the account changed since it was asked for."""
    if tokens.email_change_state(account(user)) != params["state"]:
        raise Cancelled("the account's address or password changed since the new address was asked for")
    return {"link": absolute_url("account.confirm_email", token=tokens.make_email_token(user, params["new_email"])),
            "hours": current_app.config["VERIFY_TOKEN_MAX_AGE"] // 3600}


def notice_context(user, params):
    account(user)
    return {}


def security_notice_context(user, params):
    account(user)
    return {"account_url": absolute_url("account.index"), "forgot_url": absolute_url("auth.forgot")}


def account_deleted_context(user, params):
    """Tied to no account (it is gone): everything the mail says is in its parameters."""
    return {"register_url": absolute_url("auth.register")}


KINDS = {
    "verify": Kind(_l("Confirm your email address"), "verify", verify_context),
    "reset": Kind(_l("Reset your password"), "reset", reset_context, ratelimit.RESETS),
    "already_registered": Kind(_l("Someone tried to sign up with your address"), "already_registered",
                               already_registered_context),
    "password_changed": Kind(_l("Your password was changed"), "password_changed", password_changed_context,
                             ratelimit.NOTICES),
    "email_change": Kind(_l("Confirm your new email address"), "email_change", email_change_context),
    "email_changed": Kind(_l("Your email address was changed"), "email_changed", notice_context, ratelimit.NOTICES),
    "email_in_use": Kind(_l("Someone tried to use your address"), "email_in_use", already_registered_context),
    # A second factor added or removed, a recovery code used: only a signed-in, freshly re-authenticated
    # holder (or someone with a recovery code) causes them, and they must reach the owner whatever else was sent.
    "security_notice": Kind(_l("Security of your account"), "security_notice", security_notice_context, None),
    "account_deleted": Kind(_l("Your account is deleted"), "account_deleted", account_deleted_context,
                            ratelimit.NOTICES),
}


def message(row, user):
    """The Flask-Mail message for a claimed outbox row, rendered now from the account's current state.

    Subject and body are in the language stored on the row when the mail was composed (its recipient's).
    """
    kind = KINDS[row.kind]
    context = {**row.params, **kind.context(user, row.params), "user": user}
    with force_locale(row.language or "en"):
        return Message(subject=str(kind.subject), recipients=[row.recipient],
                       sender=current_app.config["MAIL_DEFAULT_SENDER"],
                       body=render_template(f"email/{kind.template}.txt", **context),
                       html=render_template(f"email/{kind.template}.html", **context))
