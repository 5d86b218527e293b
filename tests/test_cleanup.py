"""Clean-up: only stale unverified accounts, expired events and old sent mail go, history stays, twice is safe."""
from datetime import timedelta

from app.extensions import db
from app.models import Event, OutboxMail, User, utcnow
from jobs import cleanup


def user(name, age_days, verified=False, admin=False):
    created = utcnow() - timedelta(days=age_days)
    row = User(username=name, email=f"{name}@example.test", password_hash="x", created_at=created,
               verified_at=created + timedelta(minutes=5) if verified else None, is_admin=admin)
    db.session.add(row)
    return row


def test_cleanup_removes_stale_unverified_accounts_and_expired_events(make_app):
    app = make_app()
    app.config.update(UNVERIFIED_TTL_DAYS=7, EVENT_RETENTION_DAYS=30, OUTBOX_RETENTION_DAYS=30)
    with app.app_context():
        stale = user("stale", 8)
        user("fresh", 6)
        user("old-but-verified", 100, verified=True)
        user("old-admin", 100, admin=True)
        db.session.add(Event(kind=Event.REGISTERED, user=stale, created_at=stale.created_at))
        db.session.add(Event(kind=Event.LOGIN_OK, created_at=utcnow() - timedelta(days=31)))
        db.session.add(Event(kind=Event.LOGIN_OK, created_at=utcnow() - timedelta(days=29)))
        db.session.add(OutboxMail(kind="verify", user=stale, recipient="stale@example.test", status=OutboxMail.FAILED))
        for status, age_days in ((OutboxMail.SENT, 31), (OutboxMail.CANCELLED, 31), (OutboxMail.DROPPED, 31),
                                 (OutboxMail.SENT, 29)):
            db.session.add(OutboxMail(kind="reset", recipient="old@example.test", status=status,
                                      updated_at=utcnow() - timedelta(days=age_days)))
        db.session.commit()

        assert cleanup.run() == {"unverified_users": 1, "events": 1, "sent_mail": 3, "logins": 0}
        assert cleanup.run() == {"unverified_users": 0, "events": 0, "sent_mail": 0, "logins": 0}

        assert sorted(db.session.scalars(db.select(User.username))) == ["fresh", "old-admin", "old-but-verified"]
        registered = db.session.scalars(db.select(Event).where(Event.kind == Event.REGISTERED)).one()
        assert registered.user_id is None  # the registration still counts in the statistics
        kept = db.session.scalars(db.select(OutboxMail).order_by(OutboxMail.id)).all()
        assert [(m.status, m.user_id) for m in kept] == [(OutboxMail.FAILED, None), (OutboxMail.SENT, None)]
        assert db.session.scalar(db.select(db.func.count()).select_from(Event)) == 2
