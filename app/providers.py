"""Other providers people sign in with: Authlib clients for OIDC_PROVIDERS, and who the provider says one is.

OpenID Connect providers are found by discovery and checked the strict way: the discovery document must
name the configured issuer, PKCE (S256), `state` (bound to this browser's session, used once) and
`nonce` are checked by Authlib, and the ID token's signature (the provider's published keys), issuer,
audience (our client id) and expiry are verified before a claim is believed. Plain OAuth 2 providers
("github" style) have no ID token: their user endpoint is asked over the token just obtained.
"""
from dataclasses import dataclass

from authlib.integrations.base_client.errors import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import current_app
from flask_babel import gettext as _
from joserfc.errors import JoseError
from requests import RequestException

HTTP_TIMEOUT = 10  # seconds for each call to a provider: a slow one fails with a message, not a hung worker


class Failed(Exception):
    """The round trip did not prove who the person is; the message says why, for the page."""


@dataclass(frozen=True)
class Person:
    """What a provider asserts: its stable id for the person, an address and whether it checked it."""

    provider: str  # the name in OIDC_PROVIDERS
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def init_app(app):
    oauth = OAuth(app)
    for name, settings in app.config["OIDC_PROVIDERS"].items():
        common = {"client_id": settings["CLIENT_ID"], "client_secret": settings["CLIENT_SECRET"]}
        if settings["ISSUER"]:
            oauth.register(name, **common, server_metadata_url=discovery_url(settings["ISSUER"]), client_kwargs={
                "scope": "openid email profile", "code_challenge_method": "S256", "default_timeout": HTTP_TIMEOUT})
        else:
            oauth.register(name, **common, authorize_url=settings["AUTHORIZE_URL"],
                           access_token_url=settings["TOKEN_URL"], client_kwargs={
                               "scope": settings["SCOPE"] or "email profile", "code_challenge_method": "S256",
                               "default_timeout": HTTP_TIMEOUT})
    app.extensions["providers"] = oauth
    app.jinja_env.globals["providers_configured"] = configured


def discovery_url(issuer):
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def configured():
    """{name: label} of the providers, in the order OIDC_PROVIDERS lists them."""
    return {name: settings["LABEL"] for name, settings in current_app.config["OIDC_PROVIDERS"].items()}


def client(name):
    """The Authlib client of a configured provider, or None for a name that is not one."""
    if name not in current_app.config["OIDC_PROVIDERS"]:
        return None
    return current_app.extensions["providers"].create_client(name)


def authorize_redirect(name, redirect_uri):
    """The redirect to the provider's login, with a fresh state, nonce and PKCE challenge kept in the session."""
    remote = client(name)
    try:
        check_issuer(name, remote)
        return remote.authorize_redirect(redirect_uri)
    except (RequestException, ValueError, KeyError) as exc:
        current_app.logger.warning("provider %s unreachable: %s", name, exc)
        raise Failed(_("%(provider)s is not answering. Please try again in a moment.",
                       provider=configured()[name])) from None


def check_issuer(name, remote):
    """The discovery document must name the issuer it was fetched for (OpenID Connect Discovery §4.3)."""
    issuer = current_app.config["OIDC_PROVIDERS"][name]["ISSUER"]
    if issuer and remote.load_server_metadata().get("issuer") != issuer:
        raise Failed(_("%(provider)s answered as another issuer than the one configured.",
                       provider=configured()[name]))


def person_from_callback(name):
    """Exchange the callback's code and return the Person the provider vouches for; raises Failed."""
    remote, label = client(name), configured()[name]
    try:
        check_issuer(name, remote)
        token = remote.authorize_access_token()
        if current_app.config["OIDC_PROVIDERS"][name]["ISSUER"]:
            claims = dict(token.get("userinfo") or {})
            if not claims:
                raise Failed(_("%(provider)s sent no identity token.", provider=label))
            if "email" not in claims:  # many providers keep scope claims for the userinfo endpoint
                extra = remote.userinfo(token=token)
                if str(extra.get("sub")) != str(claims["sub"]):  # OpenID Connect Core §5.3.2
                    raise Failed(_("%(provider)s described another person than it signed in.", provider=label))
                claims.update({k: v for k, v in extra.items() if k != "sub"})
            return person(name, claims)
        return oauth2_person(name, remote, token)
    except MismatchingStateError:
        raise Failed(_("This sign-in link is expired or was not started in this browser. Please start again.")) \
            from None
    except OAuthError as exc:
        if exc.error == "access_denied":
            raise Failed(_("You did not allow %(provider)s to sign you in here.", provider=label)) from None
        current_app.logger.warning("provider %s refused: %s %s", name, exc.error, exc.description)
        raise Failed(_("%(provider)s did not confirm who you are (%(reason)s). Please start again.",
                       provider=label, reason=exc.error)) from None
    except JoseError as exc:  # signature, issuer, audience, expiry or nonce of the ID token
        current_app.logger.warning("provider %s ID token refused: %s", name, exc)
        raise Failed(_("The answer from %(provider)s did not pass our checks (%(reason)s). Please start again.",
                       provider=label, reason=getattr(exc, "error", "invalid_token"))) from None
    except (RequestException, ValueError, KeyError) as exc:
        current_app.logger.warning("provider %s unreachable: %s", name, exc)
        raise Failed(_("%(provider)s is not answering. Please try again in a moment.", provider=label)) from None


def person(name, claims):
    """A Person from OpenID Connect claims; an address counts as checked only when email_verified is true."""
    verified = claims.get("email_verified") in (True, "true")
    return Person(provider=name, subject=str(claims["sub"]), email=(claims.get("email") or "").strip().lower() or None,
                  email_verified=verified, name=claims.get("preferred_username") or claims.get("name"))


def oauth2_person(name, remote, token):
    """A plain OAuth 2 provider's user endpoint; GitHub-style, its address list says which address it checked."""
    settings = current_app.config["OIDC_PROVIDERS"][name]
    profile = remote.get(settings["USERINFO_URL"], token=token).json()
    claims = {"sub": profile.get("sub") or profile["id"], "email": profile.get("email"),
              "email_verified": profile.get("email_verified", False),
              "preferred_username": profile.get("preferred_username") or profile.get("login"),
              "name": profile.get("name")}
    if settings["EMAILS_URL"]:
        addresses = remote.get(settings["EMAILS_URL"], token=token).json()
        primary = next((a for a in addresses if a.get("primary") and a.get("verified")), None)
        claims["email"], claims["email_verified"] = (primary["email"], True) if primary else (None, False)
    return person(name, claims)
