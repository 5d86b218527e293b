"""No live credential at rest: after a mail went out, the database and its backups hold neither link nor code."""
import glob
import os
import re
import subprocess
from datetime import timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from app.extensions import db
from app.models import OutboxMail, utcnow
from jobs import backup, mail, smtp
from tests.helpers import code_in, confirm, deliver, form_page, link_in, outbox, post_form, register, users


def secrets_of(message):
    """What a reader of the mail can use: the token in its link and its 6-digit code."""
    return link_in(message).rsplit("/", 1)[1], code_in(message)


def assert_absent(blob, token, code, where):
    text = blob.decode("latin-1") if isinstance(blob, bytes) else blob
    assert token not in text, f"the link's token is in {where}"
    # Digits that stand alone, as the code does in a body; a timestamp's microseconds could match by chance.
    found = [m for m in re.finditer(rf"(?<![0-9A-Za-z.]){code}(?![0-9A-Za-z])", text)]
    assert not found, f"the code {code} is in {where}: {[text[m.start() - 40:m.end() + 40] for m in found]}"


def every_row_as_text():
    """Every value of every table, read through the database itself (SQLite or PostgreSQL alike)."""
    return "\n".join(repr(tuple(r)) for table in db.metadata.sorted_tables
                     for r in db.session.execute(select(table)))


def sign_up_and_receive(app, client, run_jobs, mailbox):
    assert register(client).status_code == 303
    [message] = deliver(run_jobs, mailbox)
    assert outbox(app)[0].status == OutboxMail.SENT
    return message


def test_after_the_mail_went_out_the_database_holds_neither_its_link_nor_its_code(app, client, mailbox, run_jobs):
    message = sign_up_and_receive(app, client, run_jobs, mailbox)
    token, code = secrets_of(message)
    with app.app_context():
        assert_absent(every_row_as_text(), token, code, "the database's rows")
        url = db.engine.url
        if url.get_backend_name() == "sqlite":  # the file itself, free pages and write-ahead log included
            for path in glob.glob(url.database + "*"):
                with open(path, "rb") as f:
                    assert_absent(f.read(), token, code, os.path.basename(path))
    # The mail alone is what verifies: its link and its code both work.
    assert client.get(link_in(message)).status_code == 200
    other = app.test_client()
    response = other.post("/auth/verify-code", data={**form_page(other, "/auth/check-email"),
                                                     "email": "alice@example.com", "code": code})
    assert response.status_code == 303
    assert users(app)[0].is_verified


@pytest.mark.processes  # PostgreSQL backups run pg_dump and pg_restore
def test_a_backup_taken_after_the_mail_went_out_holds_neither_its_link_nor_its_code(app, client, mailbox,
                                                                                     run_jobs):
    message = sign_up_and_receive(app, client, run_jobs, mailbox)
    token, code = secrets_of(message)
    with app.app_context():
        path = backup.run()
    if path.endswith(".dump"):  # pg_dump's custom format is compressed: read it back as SQL
        content = subprocess.run(["pg_restore", "--file", "-", path], capture_output=True, check=True).stdout
        assert b"COPY public.outbox_mail" in content
    else:
        with open(path, "rb") as f:
            content = f.read()
    assert_absent(content, token, code, f"the backup {os.path.basename(path)}")


def test_a_retry_after_an_ambiguous_failure_renders_the_same_code_and_a_working_link(make_app, mailbox):
    """The provider took the mail but its answer came too late: the retry must not void what the user got."""
    app = make_app(MAIL_TIMEOUT="1", MAIL_RETRY_INTERVALS="1")
    client = app.test_client()
    assert register(client).status_code == 303
    [row] = outbox(app)
    mailbox.stall_after_accept = 2  # the sink keeps the mail but answers after the client gave up
    with app.app_context():
        assert mail.send(row.id) == "retrying"
        smtp.sender().close()
        first = mailbox.wait_for()[0]
        mailbox.stall_after_accept = 0
        db.session.execute(OutboxMail.__table__.update().values(next_attempt_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert mail.send(row.id) == "sent"
        smtp.sender().close()
    first, second = mailbox.wait_for(lambda ms: len(ms) == 2)
    assert code_in(first) == code_in(second)
    assert client.get(link_in(first)).status_code == 200
    assert client.get(link_in(second)).status_code == 200
    assert confirm(client, link_in(first)).status_code == 303
    assert users(app)[0].is_verified
    assert client.get(link_in(second)).status_code == 400  # verified: every link of that state is spent


def test_a_resend_retires_the_earlier_code_and_mails_a_working_one(app, client, mailbox, run_jobs):
    first = sign_up_and_receive(app, client, run_jobs, mailbox)
    assert post_form(app.test_client(), "/auth/resend", email="alice@example.com").status_code == 303
    second = deliver(run_jobs, mailbox, count=2)[1]
    old, new = code_in(first), code_in(second)
    other = app.test_client()
    fields = form_page(other, "/auth/check-email")
    if old != new:  # one chance in a million that the new code equals the old
        refused = other.post("/auth/verify-code", data={**fields, "email": "alice@example.com", "code": old})
        assert refused.status_code == 400
    accepted = other.post("/auth/verify-code", data={**form_page(other, "/auth/check-email"),
                                                     "email": "alice@example.com", "code": new})
    assert accepted.status_code == 303
    assert users(app)[0].is_verified


def test_upgrading_an_outbox_of_rendered_bodies_leaves_none_in_the_sqlite_file(make_app, tmp_path):
    """Deployments from before: their rows held live links; after the upgrade the file holds none of them."""
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'old.sqlite3'}")
    with app.app_context():
        downgrade(revision="f0d818fa76c3")  # back to the first schema, with rendered bodies
        for i in range(50):
            db.session.execute(text(
                "INSERT INTO outbox_mail (kind, recipient, subject, body_text, status, attempts, created_at, "
                "updated_at, next_attempt_at) VALUES ('reset', 'a@example.com', 's', :body, 'sent', 1, "
                "'2026-01-01', '2026-01-01', '2026-01-01')"), {"body": f"http://x/auth/reset/LIVE-TOKEN-{i:04d}\n" + "x" * 5000})  # overflow pages too
        db.session.commit()
        upgrade()
        assert db.session.scalar(text("SELECT count(*) FROM outbox_mail")) == 50
        db.session.remove()
        db.engine.dispose()
    for path in glob.glob(str(tmp_path / "old.sqlite3*")):
        with open(path, "rb") as f:
            assert b"LIVE-TOKEN-" not in f.read(), os.path.basename(path)
