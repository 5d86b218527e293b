"""Form parts several blueprints share: the address and new-password fields, their checks, the confirm button."""
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app.accounts import passwords

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


class ConfirmForm(FlaskForm):
    """Only the CSRF token: the button that turns a link someone opened into a deliberate POST."""
