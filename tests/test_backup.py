"""Backups: consistent while the app writes, atomic, checked, pruned, and restored equal to the original."""
import os
import sqlite3
import threading

import pytest
from sqlalchemy import inspect, select

from app.extensions import db
from app.models import Event, User
from jobs import backup
from tests.services import wait_until

TABLES = ("user", "event", "outbox_mail", "daily_stats", "alembic_version")


def add_users(count, prefix="u"):
    for i in range(count):
        user = User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.test", password_hash="x")
        db.session.add(user)
        db.session.add(Event(kind=Event.REGISTERED, user=user))
    db.session.commit()


def snapshot():
    """Every row of every table, in primary-key order, as plain tuples."""
    tables = {}
    for name in TABLES:
        table = db.metadata.tables.get(name)
        if table is None:  # alembic_version is not a model
            tables[name] = [tuple(r) for r in db.session.execute(db.text("SELECT * FROM alembic_version"))]
            continue
        tables[name] = [tuple(r) for r in db.session.execute(select(table).order_by(*table.primary_key.columns))]
    return tables


def sqlite_app(make_app, tmp_path, name="app"):
    """These tests are about the SQLite backup path, whatever database the rest of the suite runs on."""
    return make_app(DATABASE_URL=f"sqlite:///{tmp_path / name}.sqlite3")


def test_sqlite_backup_is_a_sound_copy_taken_while_the_app_writes(make_app, tmp_path):
    app = sqlite_app(make_app, tmp_path)
    with app.app_context():
        add_users(2000)
        database = db.engine.url.database
    stop, written = threading.Event(), [0]

    def writer():  # another connection committing sign-ups as fast as it can
        connection = sqlite3.connect(database, timeout=30)
        while not stop.is_set():
            connection.execute("INSERT INTO event (kind, created_at) VALUES ('login_ok', CURRENT_TIMESTAMP)")
            connection.commit()
            written[0] += 1
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: written[0] > 0, timeout=10, message="the writer committing")  # a backup under load
        with app.app_context():
            before = written[0]
            path = backup.run()
            during = written[0] - before
    finally:
        stop.set()
        thread.join()
    assert during > 0, "no commit went through while the backup ran: it blocked the writer"
    assert os.path.dirname(path) == str(tmp_path / "backups")
    assert os.path.basename(path).startswith("backup-")
    assert path.endswith(".sqlite3")
    assert backup.check_sqlite(path) is None
    assert not [name for name in os.listdir(tmp_path / "backups") if not name.startswith("backup-")]
    copy = sqlite3.connect(path)
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert copy.execute("SELECT count(*) FROM user").fetchone()[0] == 2000
    copy.close()


def test_only_the_newest_backups_are_kept(make_app, tmp_path):
    app = make_app(BACKUP_KEEP="2")
    with app.app_context():
        paths = [backup.run() for _ in range(4)]
    assert sorted(os.listdir(tmp_path / "backups")) == sorted(os.path.basename(p) for p in paths[-2:])


def test_sqlite_restore_makes_a_fresh_database_equal_to_the_original(make_app, tmp_path):
    original = sqlite_app(make_app, tmp_path, "original")
    with original.app_context():
        add_users(50)
        path = backup.run()
        expected = snapshot()
    fresh = sqlite_app(make_app, tmp_path, "fresh")
    result = fresh.test_cli_runner().invoke(args=["backup", "restore", "--yes", path])
    assert result.exit_code == 0, result.output
    with fresh.app_context():
        assert snapshot() == expected
        assert len(expected["user"]) == 50


def test_restore_refuses_an_unsound_file_in_one_line(make_app, tmp_path):
    app = sqlite_app(make_app, tmp_path)
    with app.app_context():
        add_users(20)
        good = backup.run()
        before = snapshot()
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    corrupt = tmp_path / "corrupt.sqlite3"
    data = bytearray(open(good, "rb").read())
    page = 4096
    data[2 * page + 8: 3 * page] = b"\xff" * (page - 8)  # a b-tree page overwritten
    corrupt.write_bytes(bytes(data))
    for path in (garbage, corrupt, tmp_path / "missing.sqlite3"):
        result = app.test_cli_runner().invoke(args=["backup", "restore", "--yes", str(path)])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: "), result.output
        assert result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output
    with app.app_context():
        assert snapshot() == before


@pytest.mark.processes
def test_postgresql_backup_and_restore_through_pg_dump(make_app, postgres_server, tmp_path):
    original = make_app(DATABASE_URL=postgres_server.create_database("original"))
    with original.app_context():
        add_users(30)
        path = backup.run()
        expected = snapshot()
        db.session.remove()
        db.engine.dispose()
    assert path.endswith(".dump")
    assert backup.check_dump(path) is None
    fresh = make_app(DATABASE_URL=postgres_server.create_database("fresh"))
    result = fresh.test_cli_runner().invoke(args=["backup", "restore", "--yes", path])
    assert result.exit_code == 0, result.output
    with fresh.app_context():
        assert snapshot() == expected
        assert inspect(db.engine).has_table("user")
        db.session.remove()
        db.engine.dispose()
    (tmp_path / "bad.dump").write_bytes(b"PGDMP garbage")
    result = fresh.test_cli_runner().invoke(args=["backup", "restore", "--yes", str(tmp_path / "bad.dump")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
