"""Through the test OpenID Connect provider's pages (tests/oidc/provider.mjs) over plain HTTP, as a browser goes.

The provider shows oidc-provider's development pages: a login form, then a consent form, each a plain HTML form
POST. A Chromium test fills the same pages with these selectors:
  login page:   input[name=login], input[name=password] (any password), then button[type=submit] ("Sign-in")
  consent page: button[type=submit] ("Continue")
  either page:  the link "[ Cancel ]" (a:has-text("Cancel")) ends at the client's callback with error=access_denied
(checked with Playwright and Debian's Chromium). The pages' stylesheet imports a Google font; where that host hangs
instead of failing at once, page.route("https://fonts.googleapis.com/**", lambda route: route.abort()).
A signed-in provider session (same cookies) skips the login page; the consent page is shown on every
authorization (the clients are native clients).
"""
import base64
import hashlib
import html.parser
import http.cookiejar
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request


class ProviderPageError(AssertionError):
    """The provider answered with a page of its own (an error it cannot send back to the client) or none at all."""

    def __init__(self, status, url, text):
        super().__init__(f"the provider answered {status} at {url}: {text[:300]}")
        self.status, self.url, self.text = status, url, text


class _Page(html.parser.HTMLParser):
    """The first form of a provider page (action, named inputs) and its Cancel link."""

    def __init__(self, text):
        super().__init__()
        self.action, self.fields, self.cancel, self._in_form, self._href = None, {}, None, False, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action, self._in_form = attrs.get("action", ""), True
        elif tag == "input" and self._in_form and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""
        elif tag == "a":
            self._href = attrs.get("href")

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False

    def handle_data(self, data):
        if self._href and "Cancel" in data:
            self.cancel = self._href


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the caller decides which redirects to follow


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc


def provider_login(cookies, authorize_url, login, password="any password", cancel=False):
    """Follow authorize_url through the provider's login and consent forms; return where it sends the browser back.

    cookies: an http.cookiejar.CookieJar kept across calls (the provider's session), or None for a fresh one.
    The return value is the client's redirect_uri with code and state (or error and state), never fetched.
    cancel=True follows the pages' Cancel link instead of signing in: the redirect then carries error=access_denied.
    """
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies if cookies is not None
                                                                            else http.cookiejar.CookieJar()),
                                         _KeepRedirects)
    url, data = authorize_url, None
    for _ in range(10):
        try:
            with opener.open(url, data, timeout=10) as response:
                status, location, text = response.status, None, response.read().decode()
        except urllib.error.HTTPError as answer:
            status, location, text = answer.code, answer.headers.get("Location"), answer.read().decode(errors="replace")
        if location:
            url, data = urllib.parse.urljoin(url, location), None
            if _origin(url) != _origin(authorize_url):
                return url
            continue
        page = _Page(text)
        if status != 200 or page.action is None:
            raise ProviderPageError(status, url, text)
        if cancel:
            url, data = urllib.parse.urljoin(url, page.cancel), None
            continue
        fields = {**page.fields, **({"login": login, "password": password} if "login" in page.fields else {})}
        url, data = urllib.parse.urljoin(url, page.action), urllib.parse.urlencode(fields).encode()
    raise ProviderPageError(status, url, "the provider's pages went round in circles")


def pkce_pair():
    """(code_verifier, S256 code_challenge) as RFC 7636 defines them."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_url(issuer, client_id, redirect_uri, state, nonce, code_challenge, scope="openid email profile"):
    query = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                                    "scope": scope, "state": state, "nonce": nonce, "code_challenge": code_challenge,
                                    "code_challenge_method": "S256"})
    return f"{issuer}/auth?{query}"


def exchange_code(issuer, client, redirect_uri, code, verifier):
    """POST the code to the token endpoint as a confidential client (HTTP Basic); the JSON answer, errors included."""
    client_id, secret = client
    basic = base64.b64encode(f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}".encode()).decode()
    body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                                   "code_verifier": verifier}).encode()
    request = urllib.request.Request(f"{issuer}/token", body, {"Authorization": f"Basic {basic}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as answer:
        return json.load(answer)


def id_token_for(provider, client, login, redirect_uri="http://localhost/auth/oidc/test/callback", nonce="n-0"):
    """A fresh ID token issued to client (client_id, secret) for login: e.g. one for another audience than the app's."""
    verifier, challenge = pkce_pair()
    url = authorization_url(provider.issuer, client[0], redirect_uri, "s-0", nonce, challenge)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(provider_login(None, url, login)).query)["code"][0]
    return exchange_code(provider.issuer, client, redirect_uri, code, verifier)["id_token"]
