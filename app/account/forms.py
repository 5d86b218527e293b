"""Forms of the account pages; each asks for the current password before it changes anything that matters."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length, ValidationError

from app.accounts import passwords
from app.forms import check_new_password, email_field, new_password_fields


def current_password_field():
    return PasswordField(_l("Your current password"), validators=[DataRequired(_l("Enter your current password.")),
                                                               Length(max=128)],
                         render_kw={"autocomplete": "current-password", "maxlength": 128})


class AccountForm(FlaskForm):
    """A form about one account: its current password must be typed (a borrowed session is not enough)."""

    current_password = current_password_field()

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_current_password(self, field):
        if not passwords.verify_password(self.user.password_hash, field.data):
            raise ValidationError(_("This is not your current password."))


class PasswordForm(AccountForm):
    password, confirm = new_password_fields()

    def __init__(self, user, *args, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.password.label.text, self.confirm.label.text = _("New password"), _("Repeat the new password")

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
    """Only the password: deleting is one deliberate step, confirmed by mail afterwards."""


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
