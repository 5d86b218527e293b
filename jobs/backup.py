"""Database backups into BACKUP_DIR, taken online, written atomically, checked, and restorable."""
import glob
import os
import sqlite3
import subprocess
import tempfile
from datetime import datetime, timezone

from flask import current_app

from app.extensions import db

PREFIX = "backup-"
SUFFIXES = {"sqlite": ".sqlite3", "postgresql": ".dump"}


class BackupError(RuntimeError):
    """A backup could not be written, or a file is not one we can restore; the message says which."""


def run():
    """Write one backup and keep the newest BACKUP_KEEP; returns the new file's path (the job's result)."""
    url = db.engine.url
    backend = url.get_backend_name()
    if backend not in SUFFIXES:
        raise BackupError(f"no backup method for {backend} databases")
    directory = current_app.config["BACKUP_DIR"]
    os.makedirs(directory, exist_ok=True)
    now = datetime.now(timezone.utc)
    target = os.path.join(directory, f"{PREFIX}{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z{SUFFIXES[backend]}")
    # The temporary file sits in the same directory, so os.replace() is an atomic rename.
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIXES[backend], dir=directory)
    os.close(fd)
    try:
        if backend == "sqlite":
            copy_sqlite(url.database, temporary)
        else:
            dump_postgres(url, temporary)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    prune(directory, current_app.config["BACKUP_KEEP"])
    return target


def copy_sqlite(source_path, target_path):
    """SQLite's online backup API: a consistent snapshot while the app keeps writing.

    One step, not page by page: in WAL mode (see app/__init__.py) the reader blocks no writer, while a
    paged copy starts over after every write from another connection and, under steady sign-ups,
    may never finish.
    """
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        target.close()
        source.close()
    problem = check_sqlite(target_path)
    if problem:
        raise BackupError(f"the backup failed its integrity check: {problem}")


def check_sqlite(path):
    """None when the file is a sound SQLite database with our schema, else what is wrong with it."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return str(exc)
    if result != ["ok"]:
        return "; ".join(result[:3])
    if "alembic_version" not in tables:
        return "not a database of this application (no alembic_version table)"
    return None


def libpq(url):
    """A connection URI for the PostgreSQL tools, and the environment that carries the password.

    The password goes through PGPASSWORD so that it never shows in the process list.
    """
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = url.password
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def pg_tool(*args, url):
    uri, env = libpq(url)
    result = subprocess.run([*args, "--dbname", uri], env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise BackupError(f"{args[0]} failed: {result.stderr.strip().splitlines()[-1:] or result.returncode}")
    return result


def dump_postgres(url, target_path):
    """pg_dump's custom format: a consistent snapshot, compressed, restorable table by table."""
    pg_tool("pg_dump", "--format=custom", "--no-owner", "--file", target_path, url=url)
    problem = check_dump(target_path)
    if problem:
        raise BackupError(f"the backup failed its check: {problem}")


def check_dump(path):
    result = subprocess.run(["pg_restore", "--list", path], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "pg_restore --list failed"
    return None


def prune(directory, keep):
    """Remove all but the newest `keep` backups; the timestamped names sort by age."""
    backups = sorted(path for suffix in SUFFIXES.values()
                     for path in glob.glob(os.path.join(directory, f"{PREFIX}*{suffix}")))
    for path in backups[:-keep]:
        os.remove(path)


def restore(path):
    """Replace the configured database's contents with a backup, after checking the file."""
    url = db.engine.url
    backend = url.get_backend_name()
    if not os.path.isfile(path):
        raise BackupError(f"{path}: no such file")
    if backend == "sqlite":
        problem = check_sqlite(path)
        if problem:
            raise BackupError(f"{path} is not a sound backup: {problem}")
        db.engine.dispose()
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(url.database)
        try:
            source.backup(target)  # under the target's write lock: readers see the old or the new data, never a mix
        finally:
            target.close()
            source.close()
    elif backend == "postgresql":
        problem = check_dump(path)
        if problem:
            raise BackupError(f"{path} is not a sound backup: {problem}")
        db.engine.dispose()
        pg_tool("pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", path, url=url)
    else:
        raise BackupError(f"no restore method for {backend} databases")
