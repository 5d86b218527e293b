"""Database models: users, the mail outbox, the event log and the daily statistics it feeds."""
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import and_, func, or_

from app.extensions import db, login_manager
from app.security import derived_key


def utcnow():
    """Naive UTC, the one form both SQLite and PostgreSQL columns round-trip unchanged."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_session_token():
    return secrets.token_urlsafe(32)


def session_hash(value):
    """What a cookie's secret is stored or sent as: HMAC-SHA256 under a key derived from SECRET_KEY.

    The cookies carry `session_hash(User.session_token)` and a login's own secret, while the database
    keeps the token and `session_hash(secret)`: a stolen database or backup logs no one in, even with
    the cookie format known, without SECRET_KEY.
    """
    return hmac.new(derived_key("session cookies"), value.encode(), hashlib.sha256).hexdigest()


class User(UserMixin, db.Model):
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(32), nullable=False)
    email = db.Column(db.String(254), nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)
    is_admin = db.Column(db.Boolean, nullable=False, default=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    verified_at = db.Column(db.DateTime)
    last_login_at = db.Column(db.DateTime)
    disabled_at = db.Column(db.DateTime)  # set by an administrator: no login, and load_user ignores its sessions
    language = db.Column(db.String(8))  # chosen with the switcher (app/i18n.py); None: never chosen
    # "issued-at$nonce" of the current verification code: the code itself is HMAC(SECRET_KEY, id, nonce),
    # derived again when the mail is sent and when it is typed, so the database never holds it.
    verify_code_nonce = db.Column(db.String(64))
    verify_code_attempts = db.Column(db.Integer, nullable=False, default=0)
    # What the session and the remember cookie name instead of the id (as Flask-Security's fs_uniquifier):
    # a new value makes every cookie issued for the account worthless (app/accounts/sessions.py).
    session_token = db.Column(db.String(64), nullable=False, unique=True, default=new_session_token)
    # Two-factor with an authenticator app (app/accounts/twofactor.py): the secret encrypted under a key
    # derived from SECRET_KEY, and the last time step accepted, so that each code is used once.
    totp_secret = db.Column(db.String(255))
    totp_last_step = db.Column(db.BigInteger)
    totp_enabled_at = db.Column(db.DateTime)
    # The LoginSession being served (its stored id and the cookie's secret for it), set by load_user or at
    # login: not columns, one per request.
    login_id = None
    login_secret = None
    login_remembered = False

    __table_args__ = (
        # Uniqueness is case-insensitive; usernames keep the spelling typed, addresses are stored lower-cased.
        db.Index("uq_user_username_lower", func.lower(username), unique=True),
        db.Index("uq_user_email_lower", func.lower(email), unique=True),
        db.Index("ix_user_unverified_created", "verified_at", "created_at"),
    )

    @property
    def is_verified(self):
        return self.verified_at is not None

    def get_id(self):
        """What both cookies carry: the account's token and this login's secret, both as no row holds them."""
        if self.login_secret is None:
            raise RuntimeError("no login is being served: app.accounts.sessions opens one before login_user()")
        return f"{session_hash(self.session_token)}.{self.login_secret}"

    def __repr__(self):
        return f"<User {self.id} {self.username}>"


class LoginSession(db.Model):
    """One login on one browser; logging out deletes its row, and with it every copy of that browser's cookies.

    The id is session_hash() of the secret the cookies carry. A row lives at most REMEMBER_DAYS, the
    longest a remember cookie lasts, and one without "keep me logged in" SESSION_IDLE_MINUTES after its
    last request: load_user ignores older ones and the cleanup job deletes them.
    """

    __tablename__ = "login_session"
    SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often

    id = db.Column(db.String(64), primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow, index=True)
    remember = db.Column(db.Boolean, nullable=False, default=False)
    last_seen_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # What the sessions page shows of the device: its User-Agent and where it signed in from (a place from
    # GEOIP_DATABASE, else the client address with its last part hidden).
    user_agent = db.Column(db.String(255))
    signed_in_from = db.Column(db.String(64))

    @staticmethod
    def oldest_live():
        """Rows created before this have outlived every remember cookie issued with them."""
        return utcnow() - timedelta(days=current_app.config["REMEMBER_DAYS"])

    @staticmethod
    def idle_since():
        """A login without "keep me logged in" last seen before this has ended."""
        return utcnow() - timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])

    @classmethod
    def live(cls):
        return and_(cls.created_at >= cls.oldest_live(), or_(cls.remember, cls.last_seen_at >= cls.idle_since()))


@login_manager.user_loader
def load_user(cookie_id):
    """The account named by "<token hash>.<login secret>", if both are current: one join per request.

    A rotated token (log out other sessions, a new password or address), a deleted login (logged out,
    expired, idle) or a disabled account names no one.
    """
    token, _, secret = (cookie_id or "").partition(".")
    if not token or not secret or len(cookie_id) > 129:
        return None
    found = db.session.execute(
        db.select(User, LoginSession).join(LoginSession, LoginSession.user_id == User.id)
        .where(LoginSession.id == session_hash(secret), User.disabled_at.is_(None), LoginSession.live())
    ).first()
    if found is None or not hmac.compare_digest(token, session_hash(found.User.session_token)):
        return None
    user, login = found
    if utcnow() - login.last_seen_at >= LoginSession.SEEN_EVERY:
        login.last_seen_at = utcnow()
        db.session.commit()
    user.login_id, user.login_secret, user.login_remembered = login.id, secret, login.remember
    return user


class RecoveryCode(db.Model):
    """One of the ten codes that replace a lost second factor once: stored as a keyed hash, never in clear."""

    __tablename__ = "recovery_code"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    code_hash = db.Column(db.String(64), nullable=False)
    used_at = db.Column(db.DateTime)


class Passkey(db.Model):
    """A WebAuthn credential of an account: signs in without a password, or stands as its second factor."""

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    credential_id = db.Column(db.String(1400), nullable=False, unique=True)  # base64url, as browsers send it
    public_key = db.Column(db.LargeBinary, nullable=False)
    sign_count = db.Column(db.BigInteger, nullable=False, default=0)
    name = db.Column(db.String(64), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_used_at = db.Column(db.DateTime)
    user = db.relationship("User", passive_deletes=True)


class Identity(db.Model):
    """An account at another provider (OpenID Connect or OAuth 2) that signs in to this account."""

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    provider = db.Column(db.String(32), nullable=False)  # a name of OIDC_PROVIDERS
    subject = db.Column(db.String(255), nullable=False)  # the provider's stable id for the person ("sub")
    email = db.Column(db.String(254))  # what the provider said when it was linked, shown on /account/providers
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_used_at = db.Column(db.DateTime)
    user = db.relationship("User", passive_deletes=True)

    __table_args__ = (db.UniqueConstraint("provider", "subject"),)


class OutboxMail(db.Model):
    """A mail to send: the row is the source of truth, a queued job is only a wake-up call.

    It records what to send (kind, recipient, user, language, parameters), never a rendered body: links
    and codes are minted by the worker when it sends (app/outbox.py), so no row holds a live credential.
    """

    __tablename__ = "outbox_mail"
    PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
    DROPPED = "dropped"  # over its mailbox's budget: never sent unless an operator retries it
    HELD = "held"  # a security notice over RATELIMIT_NOTICE_MAIL_PER_RECIPIENT: shown to operators until retried
    CANCELLED = "cancelled"  # nothing left to send by the time it was due (account gone, already verified)

    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(db.String(32), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="SET NULL"))
    recipient = db.Column(db.String(254), nullable=False)
    language = db.Column(db.String(16), nullable=False, default="en")
    params = db.Column(db.JSON, nullable=False, default=dict)
    status = db.Column(db.String(16), nullable=False, default=PENDING)
    attempts = db.Column(db.Integer, nullable=False, default=0)
    last_error = db.Column(db.Text)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    next_attempt_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    lease_until = db.Column(db.DateTime)
    sent_at = db.Column(db.DateTime)
    user = db.relationship("User", passive_deletes=True)

    __table_args__ = (db.Index("ix_outbox_mail_status_next", "status", "next_attempt_at"),)

    def __repr__(self):
        return f"<OutboxMail {self.id} {self.kind} {self.status}>"


class Event(db.Model):
    """Append-only log of what happened; the statistics job aggregates it in SQL."""

    REGISTERED = "registered"
    MAIL_SENT = "mail_sent"
    MAIL_FAILED = "mail_failed"
    VERIFIED = "verified"
    LOGIN_OK = "login_ok"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    CAPTCHA_FAILED = "captcha_failed"
    PASSWORD_CHANGED = "password_changed"
    EMAIL_CHANGED = "email_changed"
    ACCOUNT_DELETED = "account_deleted"
    TWO_FACTOR_ENABLED = "two_factor_enabled"
    TWO_FACTOR_DISABLED = "two_factor_disabled"
    PASSKEY_ADDED = "passkey_added"
    PASSKEY_REMOVED = "passkey_removed"
    RECOVERY_CODE_USED = "recovery_code_used"
    PROVIDER_LINKED = "provider_linked"
    PROVIDER_UNLINKED = "provider_unlinked"
    # What administrators do on /admin/ (user = the administrator, detail = what was acted on).
    ADMIN_JOB_RETRIED = "admin_job_retried"
    ADMIN_JOB_DELETED = "admin_job_deleted"
    ADMIN_MAIL_RESENT = "admin_mail_resent"
    ADMIN_VERIFICATION_RESENT = "admin_verify_resent"
    ADMIN_MARKED_VERIFIED = "admin_marked_verified"
    ADMIN_USER_DISABLED = "admin_user_disabled"
    ADMIN_USER_ENABLED = "admin_user_enabled"

    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(db.String(32), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="SET NULL"))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    detail = db.Column(db.String(200))
    user = db.relationship("User", passive_deletes=True)

    __table_args__ = (db.Index("ix_event_created_kind", "created_at", "kind"),)

    @classmethod
    def record(cls, kind, user=None, detail=None):
        """Add an event to the current transaction; the caller commits it with the rest."""
        event = cls(kind=kind, user=user, detail=detail)
        db.session.add(event)
        return event


class DailyStats(db.Model):
    """One row per day (in TIMEZONE), rewritten whole each time the stats job runs for that day."""

    __tablename__ = "daily_stats"

    day = db.Column(db.Date, primary_key=True)
    registrations = db.Column(db.Integer, nullable=False, default=0)
    mails_sent = db.Column(db.Integer, nullable=False, default=0)
    verifications = db.Column(db.Integer, nullable=False, default=0)
    verification_rate = db.Column(db.Float)
    median_seconds_to_verify = db.Column(db.Float)
    logins = db.Column(db.Integer, nullable=False, default=0)
    failed_logins = db.Column(db.Integer, nullable=False, default=0)
    captcha_failures = db.Column(db.Integer, nullable=False, default=0)
    mails_failed = db.Column(db.Integer, nullable=False, default=0)
    computed_at = db.Column(db.DateTime, nullable=False, default=utcnow)


class AvatarUpload(db.Model):
    """A picture as it was sent, kept until a worker has turned it into AvatarPicture rows, then emptied.

    It lives in the database rather than a folder: the worker may run on another host, and backups
    include it. The newest row of an account says what its page shows (being processed, or why it failed).
    """

    __tablename__ = "avatar_upload"
    PENDING, DONE, FAILED = "pending", "done", "failed"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True)
    data = db.Column(db.LargeBinary)  # NULL once processed: the raw upload is never kept nor served
    status = db.Column(db.String(16), nullable=False, default=PENDING)
    error = db.Column(db.String(32))  # a reason code (jobs/avatar.py), shown to the owner in their language
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    processed_at = db.Column(db.DateTime)


class AvatarPicture(db.Model):
    """One size of an account's processed picture, served at /avatars/<digest>.webp, immutable."""

    __tablename__ = "avatar_picture"
    CONTENT_TYPE, EXTENSION = "image/webp", "webp"
    SIZES = (256, 128, 64)  # the pages show 128 and 32 CSS px, each also at 2x for dense screens

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"), nullable=False)
    size = db.Column(db.Integer, nullable=False)  # width = height, in pixels
    digest = db.Column(db.String(64), nullable=False, index=True)  # sha256 of data: a new picture, a new URL
    data = db.Column(db.LargeBinary, nullable=False)

    __table_args__ = (db.UniqueConstraint("user_id", "size"),)
