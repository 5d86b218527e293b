"""Abuse limits: Flask-Limiter on the app's Redis, per client address and per account or mailbox.

Each view declares its limits where it is (`@limit`, applied by init_app). Two budgets Flask-Limiter cannot express are kept here with its
own storage and strategy: failed logins per account (they bring in the captcha, then a 429, and a
password reset clears them) and mails per recipient (counted where mail is composed, whatever the
request). Keys that name an account or a mailbox are hashed, so Redis holds no address, and an
unknown name is counted exactly like a known one. With Redis down, Flask-Limiter counts in each
process's memory; a budget read that fails anyway allows, since the captcha itself fails closed.
"""
import hashlib
import ipaddress
import logging
import time
import unicodedata

from email_validator import EmailNotValidError, validate_email

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_limiter import Limiter
from flask_login import current_user
from limits import parse
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)

TOO_MANY = _l("We had too many attempts from your network for now.")
TOO_MANY_FOR_ADDRESS = _l("We had too many requests for this email address for now.")
TOO_MANY_FOR_ACCOUNT = _l("We had too many changes asked for this account for now.")
LOCKED = _l("Too many failed attempts for this account. If it is yours, you can also reset your password by mail.")


def client_address():
    """The client's network: the peer address (or ProxyFix's, behind TRUSTED_PROXIES), an IPv6 one as its /64.

    One IPv6 subscriber gets a whole /64 (2^64 addresses): keyed on the address, each would have a budget.
    """
    address = request.remote_addr or "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def mailbox(address):
    """The one spelling of an inbox that every limit and the mail cap key on.

    email-validator's normalisation (UTS-46 domain, so full-width letters and 。 become ASCII; NFC local
    part), lower-cased, +tag removed, and Gmail's dots, which Gmail ignores, removed.
    """
    address = (address or "").strip()
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        pass  # the form refuses it anyway; still one key per spelling
    local, _, domain = unicodedata.normalize("NFC", address).lower().rpartition("@")
    local = local.partition("+")[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def mailbox_key(address):
    return _digest(mailbox(address))


def _digest(name):
    return hashlib.sha256(name.encode()).hexdigest()[:32]


def form_email():
    return mailbox_key(request.form.get("email", ""))


def signed_in_account():
    """The account of a settings form: each one asks for the current password, so it is a guessing oracle."""
    return f"user:{current_user.id}" if current_user.is_authenticated else client_address()


def new_picture():
    """The "new picture" button of a form with a captcha checks nothing, so it spends nothing."""
    return "new_captcha" in request.form


def limit(config_key, key=client_address, message=TOO_MANY, methods=("POST",)):
    """Declare a limit on the view it decorates, where the view is: one hop from a URL shows what guards it.

    The rate is the setting `config_key`; `key` names what is counted (a client, a mailbox, an account).
    Only POSTs count by default: a GET changes nothing. init_app applies every declared limit with the
    app's Limiter; a form's "new picture" button spends nothing.
    """
    def declare(view):
        view.limits = [(config_key, key, message, methods), *getattr(view, "limits", [])]
        return view
    return declare


def init_app(app):
    """One Limiter per app (not a module global): its storage and its Redis-down state belong to that app."""
    redis = app.extensions["redis"]
    limiter = Limiter(client_address, app=app, storage_options={"connection_pool": redis.connection_pool},
                      retry_after="delta-seconds")
    app.extensions["ratelimit"] = limiter
    if not limiter.enabled:
        return
    for endpoint, view in list(app.view_functions.items()):
        for config_key, key_func, message, methods in getattr(view, "limits", ()):
            view = limiter.limit(app.config[config_key], key_func=key_func, methods=methods and list(methods),
                                 error_message=message, exempt_when=new_picture)(view)
        app.view_functions[endpoint] = view


def retry_after(error):
    """Seconds until a refused request may succeed, for the Retry-After header of every 429."""
    if getattr(error, "retry_after", None):
        return error.retry_after
    limiter = current_app.extensions.get("ratelimit")
    try:
        current = limiter.current_limit if limiter is not None and limiter.enabled else None
        return max(1, int(current.reset_at - time.time())) if current is not None else 60
    except Exception as exc:  # the storage failed between the check and this read: a 429 still goes out
        log.warning("could not read the limit's reset time: %s", exc)
        return 60


# Budgets kept with Flask-Limiter's storage and strategy (its in-memory fallback included).

def _spend(config_key, *identifiers, test_only=False):
    """True while the budget has room; spends one unless test_only. Storage errors allow (logged)."""
    limiter = current_app.extensions["ratelimit"]
    if not limiter.enabled:
        return True
    item = parse(current_app.config[config_key])
    try:
        if test_only:
            return limiter.limiter.test(item, config_key, *identifiers)
        return limiter.limiter.hit(item, config_key, *identifiers)
    except Exception as exc:  # any storage error: Redis down, timed out, or an unreadable key
        log.warning("rate limit storage unavailable for %s: %s", config_key, exc)
        return True


def login_subject(login):
    """The failed-login counter's key: the name as typed, an address as its mailbox, known or not.

    Never the account: a counter that a username and its address shared told whoever failed five times
    on one whether an address was the other's (the captcha came at once). So an account's two names
    count apart, each exactly like a name that is no one's.
    """
    login = login.strip()
    return f"login:{mailbox_key(login)}" if "@" in login else f"login:{_digest(login.lower())}"


def login_needs_captcha(subject):
    return not _spend("RATELIMIT_LOGIN_CAPTCHA_AFTER", subject, test_only=True)


def refuse_locked_login(subject):
    """429 with Retry-After once an account had RATELIMIT_LOGIN_PER_ACCOUNT failures; a reset lifts it."""
    if _spend("RATELIMIT_LOGIN_PER_ACCOUNT", subject, test_only=True):
        return
    raise TooManyRequests(LOCKED, retry_after=_reset_in("RATELIMIT_LOGIN_PER_ACCOUNT", subject))


def _reset_in(config_key, *identifiers):
    """Seconds until a budget has room again, for Retry-After."""
    limiter = current_app.extensions["ratelimit"]
    item = parse(current_app.config[config_key])
    try:
        reset_at = limiter.limiter.get_window_stats(item, config_key, *identifiers).reset_time
    except Exception:  # the caller just read it; fall back to the whole window
        reset_at = time.time() + item.get_expiry()
    return max(1, int(reset_at - time.time()))


def login_failed(subject):
    _spend("RATELIMIT_LOGIN_CAPTCHA_AFTER", subject)
    _spend("RATELIMIT_LOGIN_PER_ACCOUNT", subject)


def clear_failed_logins(user):
    limiter = current_app.extensions["ratelimit"]
    if not limiter.enabled:
        return
    for config_key in ("RATELIMIT_LOGIN_CAPTCHA_AFTER", "RATELIMIT_LOGIN_PER_ACCOUNT"):
        for name in (user.username, user.email):
            try:
                limiter.limiter.clear(parse(current_app.config[config_key]), config_key, login_subject(name))
            except Exception as exc:
                log.warning("could not clear the failed logins of user %s: %s", user.id, exc)


def code_budget_left(user):
    """Wrong 6-digit codes have a daily budget per account: a resend gives a new code, never new tries."""
    return _spend("RATELIMIT_CODE_PER_ACCOUNT", f"user:{user.id}", test_only=True)


def code_failed(user):
    _spend("RATELIMIT_CODE_PER_ACCOUNT", f"user:{user.id}")


def second_step_budget(user):
    """Raise 429 once this client network gave RATELIMIT_TWO_FACTOR_PER_CLIENT wrong codes for the account.

    Keyed on the account and the client together: whoever holds the password cannot use it up for the
    owner, who signs in from elsewhere as usual.
    """
    key = f"user:{user.id}:{client_address()}"
    if not _spend("RATELIMIT_TWO_FACTOR_PER_CLIENT", key, test_only=True):
        raise TooManyRequests(_l("Too many wrong codes from your network for this account. Try again later."),
                              retry_after=_reset_in("RATELIMIT_TWO_FACTOR_PER_CLIENT", key))
    return key


def app_codes_left(user):
    """Whether the account's app codes may still be tried today; past the ceiling only unguessable codes count."""
    return _spend("RATELIMIT_TWO_FACTOR_PER_ACCOUNT", f"user:{user.id}", test_only=True)


def second_step_failed(user, client_key, counts_toward_ceiling):
    _spend("RATELIMIT_TWO_FACTOR_PER_CLIENT", client_key)
    if counts_toward_ceiling:
        _spend("RATELIMIT_TWO_FACTOR_PER_ACCOUNT", f"user:{user.id}")


def provider_sign_up_allowed():
    """Accounts made through a provider spend the register form's budget of this client network."""
    return _spend("RATELIMIT_REGISTER_PER_ADDRESS", "provider-sign-up", client_address())


# A mailbox's budgets, by who can make us send (each mail kind names one in app/emails.py):
ANYONE = "RATELIMIT_MAIL_PER_RECIPIENT"  # anyone typing the address: sign-up, resend, address change links
RESETS = "RATELIMIT_RESET_MAIL_PER_RECIPIENT"  # reset links: a stranger's land with the owner and work for them
NOTICES = "RATELIMIT_NOTICE_MAIL_PER_RECIPIENT"  # "your password was changed": only the account's holder causes them


def mail_allowed(recipient, budget=ANYONE):
    """Spend one of the mailbox's mails from `budget`; False once it is used up."""
    allowed = _spend(budget, mailbox_key(recipient))
    if not allowed:
        log.warning("mail to a recipient held back: %s reached", budget)
    return allowed
