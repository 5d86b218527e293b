"""Forms of the account pages. What matters needs a fresh password (app/accounts/reauth.py); the password
form itself asks for the current one, as every account system does."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from app.accounts import passwords
from app.forms import check_new_password, email_field, new_password_fields


def current_password_field():
    return PasswordField(_l("Your current password"), validators=[DataRequired(_l("Enter your current password.")),
                                                               Length(max=128)],
                         render_kw={"autocomplete": "current-password", "maxlength": 128})


class AccountForm(FlaskForm):
    """A form about one account."""

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user


class PasswordForm(AccountForm):
    """The current password too: a fresh session alone does not choose the next password."""

    current_password = current_password_field()
    password, confirm = new_password_fields()

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.password.label.text, self.confirm.label.text = _("New password"), _("Repeat the new password")
        if not passwords.has_password(user):  # made through a provider: the first password (behind freshness)
            del self.current_password

    def validate_current_password(self, field):
        if not passwords.verify_password(self.user.password_hash, field.data):
            raise ValidationError(_("This is not your current password."))

    def validate_password(self, field):
        check_new_password(field.data, self.user.username, self.user.email)


class EmailForm(AccountForm):
    email = email_field(autofocus=True)

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.email.label.text = _("New email address")

    def validate_email(self, field):
        if field.data.lower() == self.user.email.lower():
            raise ValidationError(_("This is already your address."))


class DeleteForm(AccountForm):
    """One button on a page that says what it does, behind a fresh password; confirmed by mail afterwards."""


class CodeForm(FlaskForm):
    code = StringField(_l("Code from your authenticator app"), validators=[
        DataRequired(_l("Enter the code.")), Length(max=32)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 32, "spellcheck": "false"})


class PasskeyNameForm(FlaskForm):
    name = StringField(_l("Name of the passkey"), validators=[
        DataRequired(_l("Give the passkey a name, such as the device it is on.")), Length(max=64)],
        render_kw={"maxlength": 64, "placeholder": _l("e.g. My phone"), "autocomplete": "off"})


# The first bytes of the formats the worker decodes: the request looks at nothing more (it never decodes).
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


def looks_like_picture(head):
    return head.startswith(SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


class AvatarForm(FlaskForm):
    """No password: a picture is not a credential, and the per-account limit bounds how often it changes."""

    avatar = FileField(_l("New picture"), validators=[FileRequired(_l("Choose a picture to upload."))],
                       render_kw={"accept": "image/jpeg,image/png,image/webp,image/gif"})

    def validate_avatar(self, field):
        stream = field.data.stream
        head = stream.read(12)
        stream.seek(0)
        if not looks_like_picture(head):
            raise ValidationError(_l("This file is not a JPEG, PNG, WebP or GIF picture."))
