"""The account's ways in besides the password: the authenticator app, recovery codes, passkeys, other providers.

Changing any of them needs a fresh password (or passkey, or provider sign-in): app/accounts/reauth.py.
"""
from flask import flash, jsonify, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import outbox, providers
from app.account import bp
from app.account.forms import CodeForm, PasskeyNameForm
from app.accounts import identities, passkeys, passwords, twofactor
from app.accounts.reauth import fresh_required
from app.extensions import db
from app.forms import ConfirmForm
from app.http import see_other, status_for
from app.ratelimit import TOO_MANY_FOR_ACCOUNT, limit, signed_in_account

PENDING_SECRET = "totp_pending"  # the secret being enrolled, sealed, until its first code proves the app has it
changes = limit("RATELIMIT_ACCOUNT_CHANGES_PER_USER", signed_in_account, TOO_MANY_FOR_ACCOUNT)


def me():
    return current_user._get_current_object()


@bp.route("/two-factor", methods=["GET", "POST"])
@login_required
@changes
@fresh_required()
def two_factor():
    """Enrol the app (scan the QR or type the secret, then one code it shows), or see what is set up."""
    user, form = me(), CodeForm()
    if twofactor.has_totp(user):
        return render_two_factor(user)
    secret = twofactor.unseal(session[PENDING_SECRET]) if session.get(PENDING_SECRET) else None
    if secret is None:  # kept while the page is reloaded, so that a scanned code stays the one that counts
        secret = twofactor.new_secret()
        session[PENDING_SECRET] = twofactor.seal(secret)
    if form.validate_on_submit():
        step = twofactor.matching_step(secret, form.code.data)
        if step is not None:
            session.pop(PENDING_SECRET)
            codes = twofactor.enable_totp(user, secret, step)
            flash(_("Two-factor sign-in is on: from now on, signing in asks for a code from your app."), "success")
            return render_codes(codes) if codes else see_other("account.two_factor")
        form.code.errors.append(_("This is not the code your app shows now. Check the time on your phone, "
                                  "and type the newest code."))
    return render_two_factor(user, enrol_form=form, secret=secret)


def render_two_factor(user, enrol_form=None, disable_form=None, secret=None):
    uri = twofactor.provisioning_uri(user, secret) if secret else None
    status = status_for(enrol_form or disable_form) if (enrol_form or disable_form) else 200
    return render_template("account/two_factor.html", user=user, totp=twofactor.has_totp(user),
                           enrol_form=enrol_form, secret=secret, uri=uri, qr=twofactor.qr_svg(uri) if uri else None,
                           disable_form=disable_form or CodeForm(prefix="disable"), codes_form=ConfirmForm(),
                           codes_left=twofactor.recovery_codes_left(user), passkeys=twofactor.passkey_count(user)
                           ), status


def render_codes(codes):
    """The recovery codes, shown this once (account pages are never cached), with a download and a print button."""
    return render_template("account/recovery_codes.html", codes=codes, text="\n".join(codes) + "\n")


@bp.post("/two-factor/disable")
@login_required
@changes
@fresh_required("account.two_factor")
def disable_two_factor():
    """A code too, not only the fresh password: the app itself (or a recovery code) agrees to its removal."""
    user, form = me(), CodeForm(prefix="disable")
    if not twofactor.has_totp(user):
        return see_other("account.two_factor")
    if form.validate_on_submit():
        code = form.code.data.strip()
        if twofactor.check_totp(user, code) or twofactor.use_recovery_code(user, code):
            twofactor.disable_totp(user)
            flash(_("Two-factor sign-in with an app is off."), "info")
            return see_other("account.two_factor")
        form.code.errors.append(_("This code is wrong or was already used."))
    return render_two_factor(user, disable_form=form)


@bp.post("/two-factor/recovery-codes")
@login_required
@changes
@fresh_required("account.two_factor")
def new_recovery_codes():
    """Ten new codes, the old ones void: after using some, or when the printout is lost."""
    user = me()
    if not ConfirmForm().validate_on_submit() or not twofactor.has_second_factor(user):
        return see_other("account.two_factor")
    codes = twofactor.new_recovery_codes(user)
    twofactor.notice(user, "recovery_codes_new")
    db.session.commit()
    outbox.wake()
    return render_codes(codes)


@bp.get("/passkeys")
@login_required
@fresh_required()
def passkeys_page():
    listed = passkeys.listed(me())
    return render_template("account/passkeys.html", passkeys=listed, form=PasskeyNameForm(), remove_form=ConfirmForm(),
                           full=len(listed) >= passkeys.MAX_PASSKEYS, codes_left=twofactor.recovery_codes_left(me()))


@bp.post("/passkeys/options")
@login_required
@fresh_required("account.passkeys_page")
def passkey_options():
    return jsonify(passkeys.registration_options(me()))


@bp.post("/passkeys")
@login_required
@changes
@fresh_required("account.passkeys_page")
def add_passkey():
    """The page's script posts the browser's new credential as JSON, with the name typed (CSRF in a header)."""
    payload = request.get_json(silent=True) or {}
    form = PasskeyNameForm(data={"name": str(payload.get("name", ""))}, meta={"csrf": False})
    if not form.validate():
        return jsonify({"error": form.name.errors[0]}), 400
    if len(passkeys.listed(me())) >= passkeys.MAX_PASSKEYS:
        return jsonify({"error": _("This account has as many passkeys as it can; remove one first.")}), 400
    try:
        passkey = passkeys.add(me(), payload.get("credential") or {}, form.name.data)
    except passkeys.Refused:
        return jsonify({"error": _("The passkey could not be added. Try again, or use another device.")}), 400
    flash(_("The passkey “%(name)s” is added.", name=passkey.name), "success")
    return jsonify({"redirect": url_for("account.passkeys_page")})


@bp.post("/passkeys/<int:passkey_id>/remove")
@login_required
@changes
@fresh_required("account.passkeys_page")
def remove_passkey(passkey_id):
    if ConfirmForm().validate_on_submit():
        removed = passkeys.remove(me(), passkey_id)
        if removed is not None:
            flash(_("The passkey “%(name)s” is removed.", name=removed.name), "info")
    return see_other("account.passkeys_page")


@bp.get("/providers")
@login_required
def providers_page():
    user, linked = me(), identities.listed(me())
    taken = {identity.provider for identity in linked}
    return render_template("account/providers.html", identities=linked, label=identities.label, form=ConfirmForm(),
                           has_password=passwords.has_password(user),
                           unlinked={n: l for n, l in providers.configured().items() if n not in taken})


@bp.post("/providers/<int:identity_id>/unlink")
@login_required
@changes
@fresh_required("account.providers_page")
def unlink_provider(identity_id):
    if ConfirmForm().validate_on_submit():
        removed = identities.unlink(me(), identity_id)
        if removed is None:
            flash(_("This is the only way into your account: set a password first, then unlink it."), "error")
        elif removed:
            flash(_("%(provider)s is unlinked.", provider=identities.label(removed.provider)), "info")
    return see_other("account.providers_page")
