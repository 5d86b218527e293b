"""`flask create-admin`: the one way to make an administrator, since the web never grants the role."""
import re

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import with_appcontext

from app import forms
from app.accounts import passwords, registration
from app.extensions import db
from app.models import User, utcnow


@click.command("create-admin")
@click.argument("username")
@click.argument("email")
@click.password_option(envvar="ADMIN_PASSWORD", help="Prompted for twice when not given (or set ADMIN_PASSWORD).")
@with_appcontext
def create_admin(username, email, password):
    """Create a verified administrator account USERNAME with address EMAIL."""
    if not re.match(forms.USERNAME_PATTERN, username) or not 3 <= len(username) <= 32:
        raise click.BadParameter("use 3 to 32 letters, digits, _ or -", param_hint="USERNAME")
    try:
        email = validate_email(email, check_deliverability=False).normalized.lower()  # as the forms store it
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None
    if len(password) < 8 or passwords.is_common(password):
        raise click.BadParameter("use at least 8 characters, not a common password", param_hint="PASSWORD")
    if registration.find_by_login(username) or registration.find_by_email(email):
        raise click.UsageError("an account with this username or address exists already")
    user = User(username=username, email=email, password_hash=passwords.hash_password(password), is_admin=True,
                verified_at=utcnow())
    db.session.add(user)
    db.session.commit()
    click.echo(f"administrator {user.username} <{user.email}> created")
    click.echo("A second factor is required: after the first login, /admin/ asks this account to set up an "
               "authenticator app or a passkey (under /account/two-factor) before any admin page opens.")
