"""Migrations 0002 (session tokens), 0004 (login sessions) and 0008 (hashed login ids) on SQLite and PostgreSQL."""
import uuid

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.accounts.passwords import hash_password
from app.extensions import db
from tests.helpers import PASSWORD, login

INITIAL = "f0d818fa76c3"
SESSION_TOKENS = "0002_account_lifecycle"
INSERT_USER = text('INSERT INTO "user" (username, email, password_hash, is_admin, created_at, verified_at, '
                   'verify_code_attempts) VALUES (:name, :email, :hash, :admin, :at, :at, 0)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.processes)])
def old_app(request, app_env, monkeypatch, tmp_path):
    """An app on a database still at the initial schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database(f"upgrade_{uuid.uuid4().hex[:8]}")
    for name, value in {**app_env, "DATABASE_URL": url}.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    with app.app_context():
        upgrade(revision=INITIAL)
    return app


def test_upgrade_gives_existing_accounts_working_session_tokens(old_app):
    with old_app.app_context():
        for name in ("alice", "bob"):
            db.session.execute(INSERT_USER, {"name": name, "email": f"{name}@example.com", "admin": False,
                                             "hash": hash_password(PASSWORD), "at": "2026-11-01 10:00:00"})
        db.session.execute(text("INSERT INTO event (kind, user_id, created_at) VALUES ('login_ok', 1, :at)"),
                           {"at": "2026-11-01 10:00:00"})
        db.session.commit()
        upgrade()
        tokens = db.session.execute(text('SELECT session_token FROM "user"')).scalars().all()
        assert len(tokens) == 2
        assert len(set(tokens)) == 2
        assert all(len(t) >= 40 for t in tokens)
        # The table rebuild kept what refers to it and what it enforces.
        assert db.session.execute(text("SELECT user_id FROM event")).scalar() == 1
        for name, token in (("ALICE", "another"), ("carol", tokens[0]), ("dave", None)):
            with pytest.raises(IntegrityError):
                db.session.execute(text('INSERT INTO "user" (username, email, password_hash, is_admin, created_at, '
                                        'verify_code_attempts, session_token) VALUES (:n, :e, :h, :a, :at, 0, :t)'),
                                   {"n": name, "e": f"{name}@new.example", "h": "x", "a": False,
                                    "at": "2026-11-01 10:00:00", "t": token})
            db.session.rollback()
    client = old_app.test_client()
    assert login(client, "alice").status_code == 303
    assert client.get("/account").status_code == 200


def test_downgrade_and_upgrade_again(old_app):
    with old_app.app_context():
        upgrade()
        downgrade(revision=INITIAL)
        upgrade()
        with pytest.raises(IntegrityError):  # NOT NULL again after the round trip
            db.session.execute(INSERT_USER, {"name": "eve", "email": "eve@example.com", "admin": False,
                                             "hash": "x", "at": "2026-11-01 10:00:00"})


def test_login_sessions_are_added_and_go_with_their_account(old_app):
    with old_app.app_context():
        db.session.execute(INSERT_USER, {"name": "alice", "email": "alice@example.com", "admin": False,
                                         "hash": hash_password(PASSWORD), "at": "2026-11-01 10:00:00"})
        db.session.commit()
        upgrade(revision=SESSION_TOKENS)
        upgrade()
    client = old_app.test_client()
    assert login(client, "alice").status_code == 303
    assert client.get("/account").status_code == 200
    with old_app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM login_session")).scalar() == 1
        db.session.execute(text('DELETE FROM "user"'))  # the foreign key takes the login with it
        db.session.commit()
        assert db.session.execute(text("SELECT count(*) FROM login_session")).scalar() == 0
        db.session.rollback()  # ends the read: on PostgreSQL, DROP TABLE would wait for its lock
        downgrade(revision=SESSION_TOKENS)
        assert "login_session" not in inspect(db.engine).get_table_names()
        upgrade()
        assert "login_session" in inspect(db.engine).get_table_names()


def test_0008_empties_the_raw_login_ids_and_adds_last_seen(old_app):
    """The ids stored before 0008 were the cookies' secrets: they go, and everyone logs in once more."""
    with old_app.app_context():
        db.session.execute(INSERT_USER, {"name": "alice", "email": "alice@example.com", "admin": False,
                                         "hash": hash_password(PASSWORD), "at": "2026-11-01 10:00:00"})
        db.session.commit()
        upgrade(revision="0007_avatars")
        db.session.execute(text("INSERT INTO login_session (id, user_id, created_at, remember) "
                                "VALUES ('raw-secret-of-a-cookie', 1, '2026-12-01 10:00:00', true)"))
        db.session.commit()
        upgrade()
        assert db.session.execute(text("SELECT count(*) FROM login_session")).scalar() == 0
        assert "last_seen_at" in {c["name"] for c in inspect(db.engine).get_columns("login_session")}
        db.session.rollback()
    client = old_app.test_client()
    assert login(client, "alice").status_code == 303
    assert client.get("/account").status_code == 200
    with old_app.app_context():
        db.session.rollback()
        downgrade(revision="0007_avatars")
        assert "last_seen_at" not in {c["name"] for c in inspect(db.engine).get_columns("login_session")}
        upgrade()
