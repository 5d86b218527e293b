"""Forms of the auth blueprint; field names and autocomplete hints are the contract password managers key on."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from app.captcha import store
from app.extensions import db
from app.forms import USERNAME_PATTERN, check_new_password, email_field, new_password_fields
from app.models import User


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


class SignUpFields(CaptchaFields):
    """A username and an address past the picture check: what every sign-up asks."""

    username = StringField(_l("Username"), validators=[
        DataRequired(_l("Choose a username.")),
        Length(3, 32, _l("Use between 3 and 32 characters.")),
        Regexp(USERNAME_PATTERN, message=_l("Use only letters, digits, _ and -.")),
    ], render_kw={"autocomplete": "username", "maxlength": 32, "autofocus": True})
    email = email_field()

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


class RegisterForm(SignUpFields, FlaskForm):
    password, confirm = new_password_fields()

    def validate_password(self, field):
        check_new_password(field.data, self.username.data, self.email.data)


class ProviderAddressForm(SignUpFields, FlaskForm):
    """After a provider that did not confirm an address: no password (the provider signs in), our mail confirms it."""


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


class SecondStepForm(FlaskForm):
    """The code after a right password: the app's six digits, or one of the recovery codes."""

    code = StringField(_l("Code from your authenticator app, or a recovery code"), validators=[
        DataRequired(_l("Enter the code.")), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "autofocus": True, "maxlength": 32, "autocapitalize": "off",
                   "spellcheck": "false"})


class ReauthForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired(_l("Enter your password.")),
                                                               Length(max=128)],
                             render_kw={"autocomplete": "current-password", "autofocus": True, "maxlength": 128})
