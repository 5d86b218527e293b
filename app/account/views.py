"""Routes of the account blueprint: thin views over app.accounts.actions."""
from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user
from sqlalchemy.exc import IntegrityError

from app import avatars
from app.account import bp
from app.accounts import actions, devices, passwords, sessions, tokens, twofactor
from app.accounts.reauth import fresh_required, is_fresh, kept_form, mark_fresh
from app.account.forms import AvatarForm, DeleteForm, EmailForm, PasswordForm
from app.forms import ConfirmForm
from app.http import see_other, status_for
from app.ratelimit import TOO_MANY_FOR_ACCOUNT, limit, signed_in_account
from app.security import body_limit
from app.extensions import db


def me():
    return current_user._get_current_object()


@bp.get("")
@login_required
def index():
    return render_index(AvatarForm())


def render_index(avatar_form):
    return render_template("account/index.html", user=current_user, avatar=avatar_state(me()),
                           two_factor=twofactor.has_second_factor(me()),
                           avatar_form=avatar_form, remove_form=ConfirmForm())


def avatar_state(user):
    """What the page says about the picture: the same dict renders it and answers avatar.js's polling."""
    upload, digests = avatars.latest_upload(user), avatars.digests_for([user.id])
    state = upload.status if upload is not None else "none"
    if state == "pending":
        message = _("Your new picture is being processed. It appears here when it is ready.")
    elif state == "failed":
        reason = avatars.REASONS.get(upload.error, avatars.REASONS["failed"])
        message = _("Your last upload could not be used: %(reason)s", reason=reason)
    else:
        message = ""
    src, srcset = avatars.urls(user, 128, digests)
    return {"state": state, "message": message, "src": src, "srcset": srcset, "custom": bool(digests)}


@bp.post("/avatar")
@login_required
@limit("RATELIMIT_AVATAR_PER_USER", signed_in_account, TOO_MANY_FOR_ACCOUNT)
@body_limit("AVATAR_MAX_BYTES")
def avatar():
    """Cheap checks only (login, CSRF, size, first bytes), then store and queue: the worker decodes it."""
    form = AvatarForm()
    if form.validate_on_submit():
        limit = current_app.config["AVATAR_MAX_BYTES"]
        data = form.avatar.data.stream.read(limit + 1)
        if len(data) > limit:  # Content-Length let it in with the form around it; the file itself is over
            abort(413)
        actions.set_avatar(me(), data)
        return see_other("account.index")
    return render_index(form), 400


@bp.post("/avatar/remove")
@login_required
@limit("RATELIMIT_AVATAR_PER_USER", signed_in_account, TOO_MANY_FOR_ACCOUNT)
def remove_avatar():
    if ConfirmForm().validate_on_submit():
        actions.remove_avatar(me())
        flash(_("Your picture is removed."), "success")
    return see_other("account.index")


@bp.get("/avatar/status")
@login_required
def avatar_status():
    return jsonify(avatar_state(me()))


@bp.route("/password", methods=["GET", "POST"])
@login_required
@limit("RATELIMIT_ACCOUNT_CHANGES_PER_USER", signed_in_account, TOO_MANY_FOR_ACCOUNT)
def password():
    if not passwords.has_password(me()) and not is_fresh():  # no current password to ask for: a fresh sign-in
        return redirect(url_for("auth.reauthenticate", next=request.path), code=303)
    form = PasswordForm(me())
    if form.validate_on_submit():
        actions.change_password(me(), form.password.data)
        sessions.keep_current(me())
        mark_fresh()  # the current password was typed just now
        flash(_("Your password is changed. Every other session of this account is logged out."), "success")
        return see_other("account.index")
    return render_template("account/password.html", form=form, user=current_user), status_for(form)


@bp.route("/email", methods=["GET", "POST"])
@login_required
@limit("RATELIMIT_ACCOUNT_CHANGES_PER_USER", signed_in_account, TOO_MANY_FOR_ACCOUNT)
@fresh_required()
def email():
    form = EmailForm(me(), data=kept_form())
    if form.validate_on_submit():
        actions.request_email_change(me(), form.email.data)
        flash(_("We sent a link to %(new)s. Your address changes when you open it; until then it stays %(old)s.",
                new=form.email.data, old=current_user.email), "info")
        return see_other("account.index")
    return render_template("account/email.html", form=form, user=current_user), status_for(form)


@bp.route("/email/<token>", methods=["GET", "POST"])
def confirm_email(token):
    """No login needed: the link proves the new mailbox, the request for it was made with the password.

    GET only shows the button: link scanners open links, people press buttons.
    """
    user, new_email = tokens.load_email_token(token)
    if user is None:
        return render_template("auth/token_invalid.html", purpose="email"), 400
    form = ConfirmForm()
    if form.validate_on_submit():
        was_me = current_user.is_authenticated and current_user.id == user.id
        try:
            changed = actions.confirm_email_change(user, new_email)
        except IntegrityError:  # taken between the check and the commit
            db.session.rollback()
            changed = False
        if not changed:
            return render_template("account/email_taken.html", new_email=new_email), 409
        if was_me:
            sessions.keep_current(user)
            flash(_("Your address is now %(email)s. Every other session of this account is logged out.",
                    email=new_email), "success")
            return see_other("account.index")
        flash(_("Your address is now %(email)s. Log in with it.", email=new_email), "success")
        return see_other("auth.login")
    return render_template("account/confirm_email.html", form=form, user=user, new_email=new_email), status_for(form)


@bp.route("/sessions", methods=["GET", "POST"], endpoint="sessions")
@login_required
def other_sessions():
    """Where the account is signed in; each login ends with its button, or every other one at once."""
    form = ConfirmForm()
    if form.validate_on_submit():
        ending = request.form.get("session", "")
        if ending and ending != current_user.login_id:
            if sessions.end_one(me(), ending):
                flash(_("That session is logged out."), "success")
            return see_other("account.sessions")
        actions.end_other_sessions(me())
        sessions.keep_current(me())
        flash(_("Every other session of this account is logged out."), "success")
        return see_other("account.sessions")
    return render_template("account/sessions.html", form=form, logins=sessions.listed(me()), label=devices.label,
                           this=current_user.login_id), status_for(form)


@bp.route("/delete", methods=["GET", "POST"])
@login_required
@limit("RATELIMIT_ACCOUNT_CHANGES_PER_USER", signed_in_account, TOO_MANY_FOR_ACCOUNT)
@fresh_required()
def delete():
    form = DeleteForm(me())
    if form.validate_on_submit():
        actions.delete_account(me())
        logout_user()
        flash(_("Your account is deleted. A confirmation is on its way to your mailbox."), "info")
        return see_other("main.index")
    return render_template("account/delete.html", form=form, user=current_user), status_for(form)
