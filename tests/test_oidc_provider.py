"""The test suite's OpenID Connect provider is real and strict: what the sign-in tests rely on it to do and refuse."""
import base64
import http.cookiejar
import json
import time
import urllib.parse
import urllib.request

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.oidc_login import (ProviderPageError, authorization_url, exchange_code, id_token_for, pkce_pair,
                              provider_login)

pytestmark = pytest.mark.processes

CALLBACK = "http://localhost:5000/auth/oidc/test/callback"  # a port the registration does not name (RFC 8252)
ALICE = {"email": "alice@example.com", "email_verified": True, "name": "Alice"}


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verified_claims(provider, id_token):
    """The ID token's claims once its RS256 signature checks out against the provider's published keys."""
    signed, signature = id_token.rsplit(".", 1)
    header, payload = (json.loads(b64decode(part)) for part in signed.split("."))
    assert header["alg"] == "RS256"
    jwk = next(key for key in get_json(f"{provider.issuer}/jwks")["keys"] if key["kid"] == header["kid"])
    numbers = rsa.RSAPublicNumbers(int.from_bytes(b64decode(jwk["e"])), int.from_bytes(b64decode(jwk["n"])))
    numbers.public_key().verify(b64decode(signature), signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return payload


def query(url):
    return {name: values[0] for name, values in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


def sign_in(provider, login, client=None, redirect_uri=CALLBACK, state="state-1", nonce="nonce-1", cookies=None):
    """(the callback URL, the code verifier) of one authorization through the provider's pages."""
    verifier, challenge = pkce_pair()
    client_id = (client or provider.clients[0])[0]
    url = authorization_url(provider.issuer, client_id, redirect_uri, state, nonce, challenge)
    return provider_login(cookies, url, login), verifier


def test_discovery_offers_only_the_code_flow_with_s256_and_rs256(oidc_provider):
    found = get_json(f"{oidc_provider.issuer}/.well-known/openid-configuration")
    assert found["issuer"] == oidc_provider.issuer
    assert found["response_types_supported"] == ["code"]
    assert found["code_challenge_methods_supported"] == ["S256"]
    assert found["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "email", "profile"} <= set(found["scopes_supported"])


def test_code_flow_returns_a_signed_id_token_with_the_accounts_email(oidc_provider):
    oidc_provider.set_accounts({"alice": ALICE})
    callback, verifier = sign_in(oidc_provider, "alice")
    assert callback.startswith(CALLBACK + "?")
    answer = query(callback)
    assert answer["state"] == "state-1" and answer["iss"] == oidc_provider.issuer

    tokens = exchange_code(oidc_provider.issuer, oidc_provider.clients[0], CALLBACK, answer["code"], verifier)
    claims = verified_claims(oidc_provider, tokens["id_token"])
    assert claims["iss"] == oidc_provider.issuer and claims["aud"] == oidc_provider.clients[0][0]
    assert claims["nonce"] == "nonce-1" and claims["exp"] > time.time()
    assert (claims["sub"], claims["email"], claims["email_verified"], claims["name"]) == (
        "alice", "alice@example.com", True, "Alice")


def test_second_client_gets_a_token_for_its_own_audience(oidc_provider):
    oidc_provider.set_accounts({"alice": ALICE})
    claims = verified_claims(oidc_provider, id_token_for(oidc_provider, oidc_provider.clients[1], "alice"))
    assert claims["aud"] == oidc_provider.clients[1][0] != oidc_provider.clients[0][0]


def test_accounts_are_read_at_each_login_and_an_unknown_login_has_no_email(oidc_provider):
    oidc_provider.set_accounts({"alice": {**ALICE, "email_verified": False}})
    claims = verified_claims(oidc_provider, id_token_for(oidc_provider, oidc_provider.clients[0], "alice"))
    assert (claims["email"], claims["email_verified"]) == ("alice@example.com", False)

    claims = verified_claims(oidc_provider, id_token_for(oidc_provider, oidc_provider.clients[0], "mallory"))
    assert claims["sub"] == "mallory" and "email" not in claims and "name" not in claims


def test_code_is_single_use_and_bound_to_its_verifier(oidc_provider):
    oidc_provider.set_accounts({"alice": ALICE})
    client = oidc_provider.clients[0]
    callback, verifier = sign_in(oidc_provider, "alice")
    code = query(callback)["code"]
    assert exchange_code(oidc_provider.issuer, client, CALLBACK, code, pkce_pair()[0])["error"] == "invalid_grant"

    callback, verifier = sign_in(oidc_provider, "alice")
    code = query(callback)["code"]
    assert "id_token" in exchange_code(oidc_provider.issuer, client, CALLBACK, code, verifier)
    assert exchange_code(oidc_provider.issuer, client, CALLBACK, code, verifier)["error"] == "invalid_grant"


def test_authorization_without_pkce_is_refused(oidc_provider):
    url = authorization_url(oidc_provider.issuer, oidc_provider.clients[0][0], CALLBACK, "state-2", "n", "x")
    url = url.replace("&code_challenge=x&code_challenge_method=S256", "")
    answer = query(provider_login(None, url, "alice"))
    assert (answer["error"], answer["state"]) == ("invalid_request", "state-2")


def test_cancel_comes_back_as_access_denied_and_a_stranger_callback_is_refused(oidc_provider):
    verifier, challenge = pkce_pair()
    url = authorization_url(oidc_provider.issuer, oidc_provider.clients[0][0], CALLBACK, "state-3", "n", challenge)
    answer = query(provider_login(None, url, "alice", cancel=True))
    assert (answer["error"], answer["state"]) == ("access_denied", "state-3")

    with pytest.raises(ProviderPageError) as refused:
        sign_in(oidc_provider, "alice", redirect_uri="http://evil.example/auth/oidc/test/callback")
    assert refused.value.status == 400 and "redirect_uri" in refused.value.text


def test_a_provider_session_skips_the_login_page(oidc_provider):
    oidc_provider.set_accounts({"alice": ALICE, "bob": {**ALICE, "email": "bob@example.com"}})
    cookies = http.cookiejar.CookieJar()
    sign_in(oidc_provider, "alice", cookies=cookies)
    callback, verifier = sign_in(oidc_provider, "bob", cookies=cookies)  # the login typed is never asked for
    tokens = exchange_code(oidc_provider.issuer, oidc_provider.clients[0], CALLBACK, query(callback)["code"], verifier)
    assert verified_claims(oidc_provider, tokens["id_token"])["sub"] == "alice"
