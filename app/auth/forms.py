"""Forms of the auth blueprint; field names and autocomplete hints are the contract password managers key on."""
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from app.auth import passwords
from app.captcha import store
from app.extensions import db
from app.models import User

USERNAME_PATTERN = r"\A[A-Za-z0-9_-]+\Z"  # \Z, not $: "$" also matches before a final newline


class NormalisedEmail:
    """email-validator's syntax check (and DNS check when EMAIL_CHECK_DELIVERABILITY is on); keeps the normalised form.

    Lower-cased in Python, non-ASCII letters included: SQLite's (and PostgreSQL's C-locale) lower() only
    folds ASCII, so a stored address must already be in the form every look-up compares against.
    """

    def __call__(self, form, field):
        try:
            result = validate_email(field.data or "",
                                    check_deliverability=current_app.config["EMAIL_CHECK_DELIVERABILITY"])
        except EmailNotValidError as exc:
            # email-validator's reason is English only: kept as the detail after a translated sentence.
            raise ValidationError(_("This is not a valid email address (%(reason)s).",
                                    reason=str(exc).rstrip("."))) from None
        field.data = result.normalized.lower()


def email_field(autofocus=False):
    render_kw = {"autocomplete": "email", "maxlength": 254}
    if autofocus:
        render_kw["autofocus"] = True
    return EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email address.")), Length(max=254),
                                           NormalisedEmail()], render_kw=render_kw)


def new_password_fields():
    password = PasswordField(_l("Password"), validators=[
        DataRequired(_l("Choose a password.")),
        Length(8, 128, _l("Use between 8 and 128 characters.")),
    ], render_kw={"autocomplete": "new-password", "minlength": 8, "maxlength": 128})
    confirm = PasswordField(_l("Repeat the password"), validators=[
        DataRequired(_l("Repeat the password.")), EqualTo("password", _l("The two passwords differ.")),
    ], render_kw={"autocomplete": "new-password"})
    return password, confirm


def check_new_password(password, username, email):
    email = (email or "").lower()
    if password.lower() in {(username or "").lower(), email, email.partition("@")[0]}:
        raise ValidationError(_("The password must not be your username or email address."))
    if passwords.is_common(password):
        raise ValidationError(_("This password is among the most common ones; choose another."))


class CaptchaFields:
    """The picture check as fields of a form (templates/captcha/field.html renders them)."""

    captcha = StringField(_l("Characters in the picture or the audio"), render_kw={
        "autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false", "maxlength": 16})
    captcha_id = HiddenField()

    def validate_captcha(self, field):
        """Runs on every submission and consumes the challenge, right or wrong (Redis errors reach the view)."""
        if not store.check(self.captcha_id.data, field.data):
            raise ValidationError(_("That was not it: type the characters from the new picture.")
                                  if self.captcha_id.data else _("Type the characters in the picture as well."))


class RegisterForm(CaptchaFields, FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(_l("Choose a username.")),
        Length(3, 32, _l("Use between 3 and 32 characters.")),
        Regexp(USERNAME_PATTERN, message=_l("Use only letters, digits, _ and -.")),
    ], render_kw={"autocomplete": "username", "maxlength": 32, "autofocus": True})
    email = email_field()
    password, confirm = new_password_fields()

    def validate_password(self, field):
        check_new_password(field.data, self.username.data, self.email.data)

    def validate(self, extra_validators=None):
        """A taken username is reported (usernames are not secret), but only past the captcha, so probing costs one.

        A taken email address is never reported here: the view answers as for a new one.
        """
        valid = super().validate(extra_validators)
        if valid and self.username_taken():
            self.username.errors.append(_("This username is taken; choose another."))
            return False
        return valid

    def username_taken(self):
        owner = db.session.scalar(select(User).where(func.lower(User.username) == self.username.data.lower()))
        # Someone registering again with their own unverified address may keep the username they chose.
        return owner is not None and not (owner.email.lower() == self.email.data.lower() and not owner.is_verified)


class LoginForm(FlaskForm):
    login = StringField(_l("Email or username"), validators=[DataRequired(_l("Enter your email or username.")),
                                                         Length(max=254)],
                        render_kw={"autocomplete": "username", "autofocus": True, "maxlength": 254})
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")), Length(max=128)],
                             render_kw={"autocomplete": "current-password", "maxlength": 128})
    remember = BooleanField(_l("Keep me logged in on this device"))


class CaptchaLoginForm(CaptchaFields, LoginForm):
    """The login form once an account had a few failed logins (app.ratelimit.login_needs_captcha)."""


class CodeForm(FlaskForm):
    email = email_field()
    code = StringField(_l("Code from the mail"), validators=[
        DataRequired(_l("Enter the 6-digit code.")), Regexp(r"^\s*\d{6}\s*$", message=_l("The code has 6 digits.")),
    ], render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 6, "pattern": r"\d{6}"})


class EmailForm(FlaskForm):
    """Resend and forgot: one address, answered the same whether or not it has an account."""

    email = email_field(autofocus=True)


class ResetForm(FlaskForm):
    password, confirm = new_password_fields()

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_password(self, field):
        check_new_password(field.data, self.user.username, self.user.email)


class ConfirmForm(FlaskForm):
    """Only the CSRF token: the button that turns a link someone opened into a deliberate POST."""
