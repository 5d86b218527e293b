"""Sign in (or up) with another provider, link one to the signed-in account, or re-authenticate with it."""
import time

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from app import providers
from app.accounts import identities, reauth, registration, sessions, twofactor
from app.auth import bp, delivery
from app.auth.forms import ProviderAddressForm
from app.auth.views import CAPTCHA_DOWN, discard_quietly, new_challenge
from app.emails import absolute_url
from app.extensions import db
from app.forms import ConfirmForm
from app.http import local_path, see_other, status_for
from app.ratelimit import TOO_MANY_FOR_ADDRESS, form_email, limit

FLOW_KEY = "provider_flow"  # what the round trip under way is for: provider, intent, account, next
PENDING_KEY = "provider_person"  # who a provider vouched for without an address it checked, for a while
PENDING_SECONDS = 900


@bp.post("/oidc/<name>/login")
@limit("RATELIMIT_LOGIN_PER_ADDRESS")
def provider_login(name):
    """A button's POST (CSRF-checked): off to the provider with a fresh state, nonce and PKCE challenge.

    `intent` is "login" (also a sign-up), "link" (add it to the signed-in account, with a fresh
    password) or "reauth" (prove it is you again, for an account that signs in through it).
    """
    if providers.client(name) is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    intent = request.form.get("intent", "login") if current_user.is_authenticated else "login"
    if intent not in ("login", "link", "reauth"):
        abort(400)
    if intent == "link" and not reauth.is_fresh():
        return redirect(url_for("auth.reauthenticate", next=url_for("account.providers_page")), code=303)
    session[FLOW_KEY] = {"provider": name, "intent": intent, "next": local_path(request.args.get("next")),
                         "user": current_user.id if current_user.is_authenticated else None}
    try:
        return providers.authorize_redirect(name, absolute_url("auth.provider_callback", name=name))
    except providers.Failed as failure:
        return failed(name, str(failure), 503)


@bp.get("/oidc/<name>/callback")
@limit("RATELIMIT_LOGIN_PER_ADDRESS", methods=("GET",))
def provider_callback(name):
    if providers.client(name) is None:
        abort(404)
    flow = session.pop(FLOW_KEY, None)
    if not flow or flow.get("provider") != name:
        return failed(name, _("This sign-in link is expired or was not started in this browser. Please start again."))
    try:
        person = providers.person_from_callback(name)
    except providers.Failed as failure:
        return failed(name, str(failure))
    if flow["intent"] != "login":
        return linked_or_reauthenticated(name, flow, person)
    user, outcome = identities.resolve(person)
    if outcome in ("linked", "linked_now", "created"):
        return sign_in(user, name, flow.get("next"), outcome)
    if outcome == "needs_address":
        session[PENDING_KEY] = {"provider": name, "subject": person.subject, "email": person.email,
                                "name": person.name, "until": int(time.time()) + PENDING_SECONDS}
        return see_other("auth.provider_address", name=name)
    messages = {
        "unverified": _("Confirm your address first: follow the link in the mail we sent you, then sign in again."),
        "disabled": _("This account is disabled."),
        "limited": _("We had too many sign-ups from your network for now. Please try again later."),
    }
    return failed(name, messages[outcome], 429 if outcome == "limited" else 403)


def sign_in(user, name, next_path, outcome):
    """The provider proved the identity; a second factor still applies when the account has one."""
    if twofactor.has_second_factor(user):
        sessions.begin_second_step(user, False, next_path)
        welcome(name, outcome)  # after the session is cleared for the step, so that the message survives
        return see_other("auth.login_code")
    registration.signed_in(user, f"provider:{name}")
    db.session.commit()
    sessions.start(user, remember=False)
    welcome(name, outcome)
    return redirect(local_path(next_path) or url_for("account.index"), code=303)


def welcome(name, outcome):
    label = providers.configured()[name]
    if outcome == "created":
        flash(_("Welcome! Your account is made with %(provider)s.", provider=label), "success")
    elif outcome == "linked_now":
        flash(_("%(provider)s is now linked to your account (it confirmed your address).", provider=label), "info")


def linked_or_reauthenticated(name, flow, person):
    """Back from a round trip started by a signed-in account: link the identity, or count as re-authentication."""
    if not current_user.is_authenticated or current_user.id != flow.get("user"):
        return failed(name, _("You were signed out meanwhile. Please sign in and start again."))
    user, identity = current_user._get_current_object(), identities.find(name, person.subject)
    if flow["intent"] == "reauth":
        if identity is None or identity.user_id != user.id:
            return failed(name, _("This %(provider)s account is not linked to yours.",
                                  provider=providers.configured()[name]), 403)
        reauth.mark_fresh()
        return redirect(local_path(flow.get("next")) or url_for("account.index"), code=303)
    if identity is not None and identity.user_id != user.id:
        return failed(name, _("This %(provider)s account is already linked to another account here.",
                              provider=providers.configured()[name]), 409)
    if identity is None:
        try:
            identities.link(user, person)
        except IntegrityError:  # the same identity linked at the same moment elsewhere
            db.session.rollback()
            return failed(name, _("This %(provider)s account is already linked to another account here.",
                                  provider=providers.configured()[name]), 409)
    flash(_("%(provider)s is linked: you can sign in with it.", provider=providers.configured()[name]), "success")
    return see_other("account.providers_page")


def failed(name, message, status=400):
    """Every failure of a round trip: a clear page with a way back, never a 500."""
    label = providers.configured().get(name, name)
    return render_template("auth/provider_failed.html", provider=label, message=message), status


@bp.route("/oidc/<name>/address", methods=["GET", "POST"])
@limit("RATELIMIT_REGISTER_PER_ADDRESS")
@limit("RATELIMIT_REGISTER_PER_EMAIL", form_email, TOO_MANY_FOR_ADDRESS)
def provider_address(name):
    """The provider did not confirm an address: type one (and the picture), and confirm it by our mail."""
    pending = session.get(PENDING_KEY)
    if providers.client(name) is None or not pending or pending.get("provider") != name \
            or pending.get("until", 0) < time.time():
        return failed(name, _("This sign-in link is expired or was not started in this browser. Please start again."))
    person = providers.Person(provider=name, subject=pending["subject"], email=pending["email"],
                              email_verified=False, name=pending["name"])
    form = ProviderAddressForm(data=None if request.method == "POST" else {
        "email": person.email or "", "username": identities.free_username(person)})
    if "new_captcha" in request.form:  # the "new picture" button: keep what was typed, check nothing
        if form.captcha_id.data:
            discard_quietly(form.captcha_id.data)
        return render_address(form, name, 200)
    try:
        if form.validate_on_submit():
            delivery.track(identities.sign_up_unverified(person, form.username.data, form.email.data))
            session.pop(PENDING_KEY, None)
            session["pending_email"] = form.email.data
            return see_other("auth.check_email")
    except RedisError:  # the captcha cannot be checked: fail closed, politely
        return render_address(form, name, 503, CAPTCHA_DOWN)
    except IntegrityError:  # the name or address was taken at the same moment
        db.session.rollback()
        form.username.errors.append(_("Someone registered at the same moment; please send the form again."))
    return render_address(form, name, status_for(form))


def render_address(form, name, status, problem=None):
    if not new_challenge(form):
        status, problem = 503, CAPTCHA_DOWN
    return render_template("auth/provider_address.html", form=form, provider=providers.configured()[name],
                           problem=problem), status
