"""Security headers on every response, the client's address behind TRUSTED_PROXIES proxies, body limits."""
import hashlib
import hmac
from urllib.parse import urlsplit

import flask
from flask import current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

MULTIPART_ALLOWANCE = 64 * 1024  # the form's boundaries, headers and CSRF token around the file

# No inline script or style anywhere: templates link app/static/ files only. A form may lead to this site, and
# to the providers of OIDC_PROVIDERS ("Sign in with ..." posts here, then redirects there; browsers check that too).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'{providers}; base-uri 'none'; object-src 'none'")


def content_security_policy(providers):
    """The CSP with each provider's origin (its issuer's, or its authorization URL's) allowed as a form target."""
    origins = sorted({origin(settings["ISSUER"] or settings["AUTHORIZE_URL"]) for settings in providers.values()})
    return CSP.format(providers="".join(f" {o}" for o in origins))


def origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def derived_key(purpose):
    """A key for one purpose (cookies, TOTP secrets, recovery codes, passkey handles), derived from SECRET_KEY.

    One purpose's key tells nothing of another's, and none is ever stored.
    """
    return hmac.new(current_app.config["SECRET_KEY"].encode(), purpose.encode(), hashlib.sha256).digest()


def body_limit(config_key):
    """Declare on an upload view the setting that is its largest body (others get MAX_CONTENT_LENGTH)."""
    def declare(view):
        view.body_limit = config_key
        return view
    return declare


class Request(flask.Request):
    """MAX_CONTENT_LENGTH, or an upload route's own limit: Werkzeug compares it with Content-Length before
    reading the body, so it must be known as soon as the URL is matched, before CSRFProtect reads the form."""

    @property
    def body_limit(self):
        """The setting the matched view declared with @body_limit, if any."""
        view = current_app.view_functions.get(self.endpoint) if self.endpoint else None
        return getattr(view, "body_limit", None)

    @property
    def accepted_bytes(self):
        """The limit the 413 page states (the upload route's view checks the file itself against it)."""
        return current_app.config[self.body_limit or "MAX_CONTENT_LENGTH"]

    @property
    def max_content_length(self):
        if self.body_limit:
            return self.accepted_bytes + MULTIPART_ALLOWANCE
        return current_app.config["MAX_CONTENT_LENGTH"]


def init_app(app):
    app.request_class = Request
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:  # with 0, X-Forwarded-* are ignored: anyone can send them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies,
                                x_prefix=proxies)
    app.config["CONTENT_SECURITY_POLICY"] = content_security_policy(app.config["OIDC_PROVIDERS"])
    app.after_request(add_headers)


def add_headers(response):
    """Runs for pages, static files, pictures and error pages alike."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", current_app.config["CONTENT_SECURITY_POLICY"])
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # A page reached through a mailed link has its token in the URL: no Referer may carry it anywhere.
    carries_token = bool(request.view_args) and "token" in request.view_args
    headers["Referrer-Policy"] = "no-referrer" if carries_token else "strict-origin-when-cross-origin"
    if current_app.config["HSTS"]:
        headers.setdefault("Strict-Transport-Security", current_app.config["HSTS"])
    return response
