"""What the account pages do, one function per action: each commits its rows, then wakes the mail worker."""
from sqlalchemy import delete

from app import outbox, sessions
from app.auth import passwords, tokens
from app.auth.accounts import find_by_email, password_notice
from app.extensions import db
from app.models import Event, OutboxMail


def change_password(user, password):
    """The new hash also retires open reset links; every session of the account ends (the view keeps its own)."""
    user.password_hash = passwords.hash_password(password)
    sessions.end_all(user)
    Event.record(Event.PASSWORD_CHANGED, user=user)
    password_notice(user, reset=False)
    db.session.commit()
    outbox.wake()


def request_email_change(user, new_email):
    """A link to the new address; nothing changes until it is used.

    An address that already belongs to a verified account gets a mail saying so instead, and the page
    says the same in both cases: the form does not tell who has an account.
    """
    owner = find_by_email(new_email)
    if owner is not None and owner.is_verified:
        outbox.compose("email_in_use", owner.email, user=owner)
    else:  # the worker mints the link when it sends; the row keeps what it is bound to
        outbox.compose("email_change", new_email, user=user, new_email=new_email,
                       state=tokens.email_change_state(user))
    db.session.commit()
    outbox.wake()


def confirm_email_change(user, new_email):
    """Move the account to new_email; False when a verified account took that address since the link was sent.

    An unverified sign-up with that address gives way, as it does to a newer sign-up: the link proves
    that the mailbox belongs to this account's owner. The old address is told, and every other session
    ends.
    """
    squatter = find_by_email(new_email)
    if squatter is not None and squatter.is_verified:
        return False
    if squatter is not None:
        db.session.delete(squatter)
        db.session.flush()  # the address is free before the account takes it
    old_email, user.email = user.email, new_email
    sessions.end_all(user)
    Event.record(Event.EMAIL_CHANGED, user=user)
    outbox.compose("email_changed", old_email, user=user, old_email=old_email, new_email=new_email)
    db.session.commit()
    outbox.wake()
    return True


def end_other_sessions(user):
    sessions.end_all(user)
    db.session.commit()


def delete_account(user):
    """Remove the account and the mail kept for it; a confirmation goes to the address, tied to no account.

    Events stay, for the statistics, with user_id set to NULL by the foreign key. A mail a worker is
    sending at this very moment is left to finish, and loses its link to the account the same way.
    """
    email, username = user.email, user.username
    db.session.execute(delete(OutboxMail).where(OutboxMail.user_id == user.id,
                                                OutboxMail.status != OutboxMail.SENDING))
    db.session.delete(user)
    Event.record(Event.ACCOUNT_DELETED)
    outbox.compose("account_deleted", email, username=username)
    db.session.commit()
    outbox.wake()
