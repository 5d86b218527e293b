"""Clean-up: only stale unverified accounts and expired events go, their history stays, twice is safe."""
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
    app.config.update(UNVERIFIED_TTL_DAYS=7, EVENT_RETENTION_DAYS=30)
    with app.app_context():
        stale = user("stale", 8)
        user("fresh", 6)
        user("old-but-verified", 100, verified=True)
        user("old-admin", 100, admin=True)
        db.session.add(Event(kind=Event.REGISTERED, user=stale, created_at=stale.created_at))
        db.session.add(Event(kind=Event.LOGIN_OK, created_at=utcnow() - timedelta(days=31)))
        db.session.add(Event(kind=Event.LOGIN_OK, created_at=utcnow() - timedelta(days=29)))
        db.session.add(OutboxMail(kind="verify", user=stale, recipient="stale@example.test", subject="s",
                                  body_text="b", status=OutboxMail.FAILED))
        db.session.commit()

        assert cleanup.run() == {"unverified_users": 1, "events": 1, "logins": 0}
        assert cleanup.run() == {"unverified_users": 0, "events": 0, "logins": 0}

        assert sorted(db.session.scalars(db.select(User.username))) == ["fresh", "old-admin", "old-but-verified"]
        registered = db.session.scalars(db.select(Event).where(Event.kind == Event.REGISTERED)).one()
        assert registered.user_id is None  # the registration still counts in the statistics
        assert db.session.scalars(db.select(OutboxMail)).one().user_id is None
        assert db.session.scalar(db.select(db.func.count()).select_from(Event)) == 2
