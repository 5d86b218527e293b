"""Signing in beyond the password: the second step, passkeys, and re-authentication for what matters."""
from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import providers, ratelimit
from app.accounts import identities, passkeys, passwords, reauth, registration, sessions, twofactor
from app.auth import bp
from app.auth.forms import ReauthForm, SecondStepForm
from app.extensions import db
from app.http import local_path, see_other, status_for
from app.models import Event
from app.ratelimit import limit


def after_sign_in(next_path):
    return local_path(next_path) or url_for("account.index")


@bp.route("/login/code", methods=["GET", "POST"])
@limit("RATELIMIT_LOGIN_PER_ADDRESS")
def login_code():
    """The second step: the app's code or a recovery code (or a passkey, from the page's script)."""
    user = sessions.second_step_user()
    if user is None:
        flash(_("Your sign-in took too long or was interrupted; please log in again."), "info")
        return see_other("auth.login")
    form = SecondStepForm()
    if form.validate_on_submit():
        client_key = ratelimit.second_step_budget(user)  # 429 after too many wrong codes from this network
        code = form.code.data.strip()
        app_code = "".join(code.split()).isdigit()
        ceiling = app_code and not sessions.known_device(user)  # the owner's own browsers are exempt
        if ceiling and not ratelimit.app_codes_left(user):
            form.code.errors.append(_("Too many wrong codes were typed for this account today. Use a recovery "
                                      "code or a passkey."))
        elif twofactor.check_totp(user, code) if app_code else twofactor.use_recovery_code(user, code):
            return finish(user, "totp" if app_code else "recovery_code")
        else:
            ratelimit.second_step_failed(user, client_key, ceiling)
            Event.record(Event.LOGIN_FAILED, user=user, detail="second_factor")
            db.session.commit()
            form.code.errors.append(_("This code is wrong or was already used."))
    return render_template("auth/login_code.html", form=form, totp=twofactor.has_totp(user),
                           passkeys=bool(twofactor.passkey_count(user))), status_for(form)


def finish(user, how):
    registration.signed_in(user, how)
    db.session.commit()
    return sessions.remember_device(redirect(after_sign_in(sessions.finish_second_step(user)), code=303), user)


# Passkeys: the page's script (static/passkey.js) asks for options, the browser signs, the script posts
# the answer. The answers are JSON; CSRF is checked from the X-CSRFToken header like any form.

@bp.post("/passkey/options")
@limit("RATELIMIT_LOGIN_PER_ADDRESS")
def passkey_options():
    """Options for a sign-in: any passkey of this site, or, during a second step, that account's only."""
    return jsonify(passkeys.authentication_options(sessions.second_step_user()))


@bp.post("/passkey/login")
@limit("RATELIMIT_LOGIN_PER_ADDRESS")
def passkey_login():
    pending = sessions.second_step_user()
    try:
        passkey = passkeys.authenticate(request.get_json(silent=True) or {}, user=pending)
    except passkeys.Refused:
        return passkey_refused()
    user = passkey.user if pending is None else pending
    if user.disabled_at is not None or not user.is_verified:
        return passkey_refused()
    registration.signed_in(user, "passkey")
    db.session.commit()
    if pending is not None:  # the passkey as the second step after a password
        return sessions.remember_device(jsonify({"redirect": after_sign_in(sessions.finish_second_step(user))}),
                                        user)
    sessions.start(user, remember=False)  # the passkey alone: it is two factors in one
    return jsonify({"redirect": after_sign_in(request.args.get("next"))})


def passkey_refused():
    """One answer for every refusal: which check failed (no such key, another account's, disabled) is not said."""
    return jsonify({"error": _("This passkey was not accepted. Try again, or use your password.")}), 400


@bp.route("/reauthenticate", methods=["GET", "POST"])
@login_required
@limit("RATELIMIT_LOGIN_PER_ADDRESS")
def reauthenticate():
    """The password again (or a passkey, from the page's script) before a change that matters."""
    user = current_user._get_current_object()
    subject = ratelimit.login_subject(user.username)
    form = ReauthForm()
    if form.validate_on_submit():
        ratelimit.refuse_locked_login(subject)
        if passwords.verify_password(user.password_hash, form.password.data):
            reauth.mark_fresh()
            return redirect(after_sign_in(request.args.get("next")), code=303)
        ratelimit.login_failed(subject)
        form.password.errors.append(_("This is not your password."))
    return render_template("auth/reauthenticate.html", form=form, passkeys=bool(twofactor.passkey_count(user)),
                           has_password=passwords.has_password(user), next=local_path(request.args.get("next")),
                           linked={i.provider: identities.label(i.provider) for i in identities.listed(user)
                                   if i.provider in providers.configured()}), status_for(form)


@bp.post("/reauthenticate/passkey")
@login_required
def reauthenticate_passkey():
    try:
        passkeys.authenticate(request.get_json(silent=True) or {}, user=current_user._get_current_object())
    except passkeys.Refused:
        return passkey_refused()
    reauth.mark_fresh()
    return jsonify({"redirect": after_sign_in(request.args.get("next"))})


@bp.post("/reauthenticate/passkey/options")
@login_required
def reauthenticate_passkey_options():
    return jsonify(passkeys.authentication_options(current_user._get_current_object()))
