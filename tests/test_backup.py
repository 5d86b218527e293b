"""Backups: consistent while the app writes, atomic, checked, pruned, and restored equal to the original."""
import os
import sqlite3
import threading
import time

from sqlalchemy import inspect, select

from app.extensions import db
from app.models import Event, User
from jobs import backup

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


def test_backup_is_a_sound_copy_taken_while_the_app_writes(app, tmp_path):
    with app.app_context():
        add_users(2000)
        database = db.engine.url.database
    stop, written = threading.Event(), []

    def writer():  # another connection committing sign-ups as fast as it can
        connection = sqlite3.connect(database, timeout=30)
        i = 0
        while not stop.is_set():
            connection.execute("INSERT INTO event (kind, created_at) VALUES ('login_ok', CURRENT_TIMESTAMP)")
            connection.commit()
            i += 1
        written.append(i)
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.1)  # let the writer get going: the point is a backup under load
        with app.app_context():
            started = time.monotonic()
            path = backup.run()
            elapsed = time.monotonic() - started
        during = len(written)  # the writer has not stopped yet: nothing recorded
    finally:
        stop.set()
        thread.join()
    assert during == 0 and written[0] > 0
    assert elapsed < 10
    assert os.path.dirname(path) == str(tmp_path / "backups")
    assert os.path.basename(path).startswith("backup-") and path.endswith(".sqlite3")
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


def test_restore_makes_a_fresh_database_equal_to_the_original(make_app, tmp_path):
    original = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'original.sqlite3'}")
    with original.app_context():
        add_users(50)
        path = backup.run()
        expected = snapshot()
    fresh = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    result = fresh.test_cli_runner().invoke(args=["backup", "restore", "--yes", path])
    assert result.exit_code == 0, result.output
    with fresh.app_context():
        assert snapshot() == expected
        assert len(expected["user"]) == 50


def test_restore_refuses_an_unsound_file_in_one_line(app, tmp_path):
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
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output
    with app.app_context():
        assert snapshot() == before


def test_postgresql_backup_and_restore_through_pg_dump(make_app, postgres_server, tmp_path):
    original = make_app(DATABASE_URL=postgres_server.create_database("original"))
    with original.app_context():
        add_users(30)
        path = backup.run()
        expected = snapshot()
        db.session.remove()
        db.engine.dispose()
    assert path.endswith(".dump") and backup.check_dump(path) is None
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
    assert result.exit_code == 1 and result.output.startswith("Error: ")
