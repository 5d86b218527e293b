"""Routes of the auth blueprint: thin views over app.accounts.registration."""
from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from app import ratelimit
from app.ratelimit import TOO_MANY_FOR_ADDRESS, form_email, limit
from app.accounts import registration, sessions, tokens
from app.auth import bp, delivery
from app.auth.forms import CaptchaLoginForm, CodeForm, EmailForm, LoginForm, RegisterForm, ResetForm
from app.forms import ConfirmForm
from app.http import local_path, see_other, status_for
from app.captcha import store
from app.extensions import db
from app.models import Event

CAPTCHA_DOWN = _l("The picture check is unavailable for a moment; please try again shortly. What you typed is kept.")


@bp.route("/register", methods=["GET", "POST"])
@limit("RATELIMIT_REGISTER_PER_ADDRESS")
@limit("RATELIMIT_REGISTER_PER_EMAIL", form_email, TOO_MANY_FOR_ADDRESS)
def register():
    form = RegisterForm()
    if "new_captcha" in request.form:  # the "new picture" button: keep what was typed, check nothing
        if form.captcha_id.data:
            discard_quietly(form.captcha_id.data)
        return render_register(form, 200)
    try:
        if form.validate_on_submit():
            delivery.track(registration.register(form.username.data, form.email.data, form.password.data))
            session["pending_email"] = form.email.data
            return see_other("auth.check_email")
    except RedisError:  # the captcha cannot be checked: fail closed, politely
        return render_register(form, 503, CAPTCHA_DOWN)
    except IntegrityError:  # a simultaneous sign-up took the name or address between check and commit
        db.session.rollback()
        return render_register(form, 409, _("Someone registered at the same moment; please send the form again."))
    if form.captcha.errors:
        Event.record(Event.CAPTCHA_FAILED)
        db.session.commit()
    return render_register(form, status_for(form))


def discard_quietly(challenge_id):
    try:
        store.discard(challenge_id)
    except RedisError:
        pass  # it expires on its own


def new_challenge(form):
    """Every rendering gets a fresh challenge: an answer, right or wrong, is never accepted twice.

    False when Redis cannot make one (the page then says so and answers 503).
    """
    form.captcha.data = ""
    try:
        form.captcha_id.data = store.new_challenge()
        return True
    except RedisError:
        form.captcha_id.data = ""
        return False


def render_register(form, status, problem=None):
    other_errors = any(f.errors for f in form if f is not form.captcha)
    if form.is_submitted() and not other_errors:  # only the captcha is left to do: the cursor goes there
        focus(form.captcha, instead_of=form.username)
    if not new_challenge(form):
        status, problem = 503, CAPTCHA_DOWN
    return render_template("auth/register.html", form=form, problem=problem), status


def focus(field, instead_of):
    """Move autofocus for this rendering only: render_kw dicts are shared by every instance of the form."""
    instead_of.render_kw = {k: v for k, v in instead_of.render_kw.items() if k != "autofocus"}
    field.render_kw = {**(field.render_kw or {}), "autofocus": True}


@bp.get("/check-email")
def check_email():
    form = CodeForm(data={"email": session.get("pending_email", "")})
    return render_template("auth/check_email.html", form=form, delivery=current_delivery())


def current_delivery():
    try:
        return delivery.current()
    except RedisError:
        return None  # the page works without its live state


@bp.get("/delivery/<ticket>")
def delivery_state(ticket):
    """The live state for the page's script: only the asking session's own ticket is known here."""
    try:
        state = delivery.current(ticket)
    except RedisError:
        abort(503)
    if state is None:
        abort(404)
    response = jsonify(state)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/verify-code")
@limit("RATELIMIT_CODE_PER_ADDRESS")
@limit("RATELIMIT_CODE_PER_EMAIL", form_email, TOO_MANY_FOR_ADDRESS)
def verify_code():
    form = CodeForm()
    if form.validate_on_submit():
        if registration.verify_code(form.email.data, form.code.data.strip()):
            session.pop("pending_email", None)
            flash(_("Your address is confirmed. You can log in now."), "success")
            return see_other("auth.login")
        form.code.errors.append(_("This code is wrong, used or expired. Check the latest mail, or ask for a new one."))
    return render_template("auth/check_email.html", form=form, delivery=current_delivery()), 400


@bp.route("/verify/<token>", methods=["GET", "POST"])
def verify(token):
    """GET only shows the button: link scanners open links, people press buttons."""
    user = tokens.load_token(token, tokens.VERIFY)
    if user is None:
        return render_template("auth/token_invalid.html", purpose="verify"), 400
    form = ConfirmForm()
    if form.validate_on_submit():
        registration.verify(user)
        session.pop("pending_email", None)
        flash(_("Your address is confirmed. You can log in now."), "success")
        return see_other("auth.login")
    return render_template("auth/verify.html", form=form, user=user)


@bp.route("/resend", methods=["GET", "POST"])
@limit("RATELIMIT_RESEND_PER_ADDRESS")
@limit("RATELIMIT_RESEND_PER_EMAIL", form_email, TOO_MANY_FOR_ADDRESS)
def resend():
    form = EmailForm(data={"email": session.get("pending_email", "")} if request.method == "GET" else None)
    if form.validate_on_submit():
        row = registration.resend(form.email.data)
        if row is not None:
            delivery.track(row)
        else:
            delivery.track_nothing()
        session["pending_email"] = form.email.data
        flash(_("If this address has an account waiting for confirmation, a new mail is on its way."), "info")
        return see_other("auth.check_email")
    return render_template("auth/resend.html", form=form), status_for(form)


@bp.route("/login", methods=["GET", "POST"])
@limit("RATELIMIT_LOGIN_PER_ADDRESS")
def login():
    """After a few failed logins for an account, its form asks for the captcha too, instead of a lockout."""
    name = request.form.get("login", "") if request.method == "POST" else ""
    subject = ratelimit.login_subject(name) if name.strip() else None
    if subject:
        ratelimit.refuse_locked_login(subject)  # 429 with Retry-After only after many failures
    form = (CaptchaLoginForm if subject and ratelimit.login_needs_captcha(subject) else LoginForm)()
    if "new_captcha" in request.form:  # the "new picture" button checks nothing, so the limits let it pass
        if isinstance(form, CaptchaLoginForm) and form.captcha_id.data:
            discard_quietly(form.captcha_id.data)
        return render_login(form, 200)
    try:
        submitted = form.validate_on_submit()
    except RedisError:  # the captcha this account needs cannot be checked: fail closed, keep the name
        return render_login(form, 503, CAPTCHA_DOWN)
    unverified = False
    if submitted:
        user, reason = registration.authenticate(form.login.data, form.password.data)
        if reason is None:
            sessions.start(user, remember=form.remember.data)
            return redirect(local_path(request.args.get("next")) or url_for("account.index"), code=303)
        if reason == "second_factor":  # the password was right: the code (or a passkey) comes next
            sessions.begin_second_step(user, form.remember.data, request.args.get("next"))
            return see_other("auth.login_code")
        if reason == "unverified":
            unverified = True
            session["pending_email"] = user.email
        else:
            form.password.errors.append(_("Wrong email, username or password."))
    if subject and not isinstance(form, CaptchaLoginForm) and ratelimit.login_needs_captcha(subject):
        form = with_captcha(form)  # this failure was the one that brings the captcha in
    return render_login(form, status_for(form), unverified=unverified)


def with_captcha(form):
    """The same submission as a CaptchaLoginForm: what was typed and the errors found are kept."""
    captcha_form = CaptchaLoginForm()
    for name in ("login", "password", "remember"):
        captcha_form[name].errors = list(form[name].errors)
    return captcha_form


def render_login(form, status, problem=None, unverified=False):
    """A fresh challenge whenever the captcha is asked for, as on the register form."""
    if isinstance(form, CaptchaLoginForm) and not new_challenge(form):
        status, problem = 503, CAPTCHA_DOWN
    return render_template("auth/login.html", form=form, problem=problem, unverified=unverified), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        Event.record(Event.LOGOUT, user=current_user._get_current_object())
        sessions.log_out(current_user._get_current_object())
        flash(_("You are logged out."), "info")
    return see_other("main.index")


@bp.route("/forgot", methods=["GET", "POST"])
@limit("RATELIMIT_FORGOT_PER_ADDRESS")
@limit("RATELIMIT_FORGOT_PER_EMAIL", form_email, TOO_MANY_FOR_ADDRESS)
def forgot():
    form = EmailForm()
    if form.validate_on_submit():
        registration.forgot(form.email.data)
        flash(_("If an account uses this address, a mail with a link to choose a new password is on its way."), "info")
        return see_other("auth.login")
    return render_template("auth/forgot.html", form=form), status_for(form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token):
    user = tokens.load_token(token, tokens.RESET)
    if user is None:
        return render_template("auth/token_invalid.html", purpose="reset"), 400
    form = ResetForm(user)
    if form.validate_on_submit():
        registration.reset_password(user, form.password.data)
        flash(_("Your password is changed. You can log in with it now."), "success")
        return see_other("auth.login")
    return render_template("auth/reset.html", form=form, user=user), status_for(form)
