"""Security headers on every response, and the client's address behind TRUSTED_PROXIES proxies."""
from flask import current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

# No inline script or style anywhere: templates link app/static/ files only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'")


def init_app(app):
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:  # with 0, X-Forwarded-* are ignored: anyone can send them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies,
                                x_prefix=proxies)
    app.after_request(add_headers)


def add_headers(response):
    """Runs for pages, static files, pictures and error pages alike."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # A page reached through a mailed link has its token in the URL: no Referer may carry it anywhere.
    carries_token = bool(request.view_args) and "token" in request.view_args
    headers["Referrer-Policy"] = "no-referrer" if carries_token else "strict-origin-when-cross-origin"
    if current_app.config["HSTS"]:
        headers.setdefault("Strict-Transport-Security", current_app.config["HSTS"])
    return response
