"""Accounts on /admin/users: search, and the operator's actions on one account (each a POST, each an event)."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select

from app import avatars, outbox
from app.accounts import registration, sessions
from app.admin import bp
from app.extensions import db
from app.models import Event, Passkey, User, utcnow

SHOWN = 200


@bp.get("/users")
def users():
    """Newest first; `q` matches part of a username or an address, case-insensitively."""
    query = request.args.get("q", "").strip()[:254]
    statement = select(User).order_by(User.created_at.desc(), User.id.desc()).limit(SHOWN)
    if query:
        pattern = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(or_(func.lower(User.username).like(pattern, escape="\\"),
                                        func.lower(User.email).like(pattern, escape="\\")))
    accounts = db.session.scalars(statement).all()
    return render_template("admin/users.html", users=accounts, query=query, shown=SHOWN, avatar_urls=avatars.urls,
                           avatars=avatars.digests_for(user.id for user in accounts),
                           passkeys=passkey_counts(user.id for user in accounts))


def passkey_counts(user_ids):
    """{user id: passkeys} for the accounts shown, in one query."""
    return dict(db.session.execute(select(Passkey.user_id, func.count()).where(Passkey.user_id.in_(list(user_ids)))
                                   .group_by(Passkey.user_id)).all())


def account(user_id):
    return db.get_or_404(User, user_id)


def back(message, category="success"):
    """To the list the action was taken from, its search kept (only a local path is followed)."""
    flash(message, category)
    query = request.form.get("q", "")
    return redirect(url_for("admin.users", q=query) if query else url_for("admin.users"), code=303)


def record(kind, user):
    Event.record(kind, user=current_user, detail=f"user {user.id} {user.username}"[:200])


@bp.post("/users/<int:user_id>/resend")
def resend_verification(user_id):
    user = account(user_id)
    if user.is_verified:
        return back(_("%(name)s is verified already.", name=user.username), "info")
    registration.verification_mail(user)
    record(Event.ADMIN_VERIFICATION_RESENT, user)
    db.session.commit()
    outbox.wake()
    return back(_("A new verification mail to %(name)s is on its way.", name=user.username))


@bp.post("/users/<int:user_id>/verify")
def mark_verified(user_id):
    user = account(user_id)
    if user.is_verified:
        return back(_("%(name)s is verified already.", name=user.username), "info")
    registration.mark_verified(user)
    record(Event.ADMIN_MARKED_VERIFIED, user)
    db.session.commit()
    return back(_("%(name)s is marked verified.", name=user.username))


@bp.post("/users/<int:user_id>/disable")
def disable(user_id):
    """No more logins, and every open session ends now (its token is replaced, its login rows deleted)."""
    user = account(user_id)
    if user.id == current_user.id:
        return back(_("You cannot disable your own account."), "error")
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        sessions.end_all(user)
        record(Event.ADMIN_USER_DISABLED, user)
        db.session.commit()
    return back(_("%(name)s is disabled: logged out everywhere, and cannot log in.", name=user.username))


@bp.post("/users/<int:user_id>/enable")
def enable(user_id):
    user = account(user_id)
    if user.disabled_at is not None:
        user.disabled_at = None
        record(Event.ADMIN_USER_ENABLED, user)
        db.session.commit()
    return back(_("%(name)s can log in again.", name=user.username))
