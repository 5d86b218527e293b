"""What the account pages do, one function per action: each commits its rows, then wakes the mail worker."""
import logging

from sqlalchemy import delete

from app import outbox
from app.accounts import passwords, sessions, tokens
from app.accounts.registration import find_by_email, password_notice
from app.extensions import db
from app.models import AvatarPicture, AvatarUpload, Event, OutboxMail, utcnow
from app.queues import get_queue

log = logging.getLogger(__name__)
AVATAR_JOB_TIMEOUT = 60  # seconds: a picture that takes longer is given up, and the worker goes on


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
    remove_avatar(user, commit=False)  # the foreign keys cascade too; said here so no reader has to know
    db.session.execute(delete(OutboxMail).where(OutboxMail.user_id == user.id,
                                                OutboxMail.status != OutboxMail.SENDING))
    db.session.delete(user)
    Event.record(Event.ACCOUNT_DELETED)
    outbox.compose("account_deleted", email, username=username)
    db.session.commit()
    outbox.wake()


def set_avatar(user, data):
    """Store the upload in the database (a worker on another host reads it there) and queue its processing.

    Older uploads of the account are dropped: only the newest one will be processed. If Redis refuses
    the job, the upload is marked failed at once, so the page does not promise a picture that never comes.
    """
    db.session.execute(delete(AvatarUpload).where(AvatarUpload.user_id == user.id))
    upload = AvatarUpload(user_id=user.id, data=data)
    db.session.add(upload)
    db.session.commit()
    try:
        queue_avatar(upload.id)
    except Exception as exc:  # Redis down or timed out
        log.warning("avatar upload %s not queued: %s", upload.id, exc)
        upload.status, upload.error, upload.data, upload.processed_at = AvatarUpload.FAILED, "not_queued", None, utcnow()
        db.session.commit()


def remove_avatar(user, commit=True):
    """Back to the default picture; an upload still waiting for a worker is dropped with it."""
    db.session.execute(delete(AvatarUpload).where(AvatarUpload.user_id == user.id))
    db.session.execute(delete(AvatarPicture).where(AvatarPicture.user_id == user.id))
    if commit:
        db.session.commit()


def queue_avatar(upload_id):
    """Queue an upload's processing under a stable id, so jobs/avatar.py's redrive can tell whether it is lost."""
    return get_queue("avatars").enqueue("jobs.avatar.process", upload_id, job_id=avatar_job_id(upload_id),
                                        job_timeout=AVATAR_JOB_TIMEOUT, result_ttl=0)


def avatar_job_id(upload_id):
    return f"avatar-{upload_id}"
