"""Routes of the account blueprint: thin views over app.account.actions."""
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user
from sqlalchemy.exc import IntegrityError

from app import sessions
from app.account import actions, bp
from app.account.forms import DeleteForm, EmailForm, PasswordForm
from app.auth import tokens
from app.auth.forms import ConfirmForm
from app.extensions import db


def see_other(endpoint, **values):
    return redirect(url_for(endpoint, **values), code=303)


def status_for(form):
    """Re-rendered forms answer 400: the page says what to fix, and a client sees it was refused."""
    return 400 if form.is_submitted() else 200


def me():
    return current_user._get_current_object()


@bp.get("")
@login_required
def index():
    return render_template("account/index.html", user=current_user)


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    form = PasswordForm(me())
    if form.validate_on_submit():
        actions.change_password(me(), form.password.data)
        sessions.keep_current(me())
        flash(_("Your password is changed. Every other session of this account is logged out."), "success")
        return see_other("account.index")
    return render_template("account/password.html", form=form, user=current_user), status_for(form)


@bp.route("/email", methods=["GET", "POST"])
@login_required
def email():
    form = EmailForm(me())
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
    form = ConfirmForm()
    if form.validate_on_submit():
        actions.end_other_sessions(me())
        sessions.keep_current(me())
        flash(_("Every other session of this account is logged out."), "success")
        return see_other("account.index")
    return render_template("account/sessions.html", form=form, others=sessions.others(me())), status_for(form)


@bp.route("/delete", methods=["GET", "POST"])
@login_required
def delete():
    form = DeleteForm(me())
    if form.validate_on_submit():
        actions.delete_account(me())
        logout_user()
        flash(_("Your account is deleted. A confirmation is on its way to your mailbox."), "info")
        return see_other("main.index")
    return render_template("account/delete.html", form=form, user=current_user), status_for(form)
