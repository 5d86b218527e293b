"""outbox rows record what to send, not rendered bodies; the verification code is derived, not stored

The rendered bodies held live links and codes; dropping them removes every credential at rest. Pending
rows are rendered by the worker from their kind when they are sent. An unverified account's code
cannot be recovered from its hash, so it gets a fresh nonce: its pending mail carries a working code,
an earlier mail's link keeps working, only an earlier mail's code stops (a resend gives a new one).

SQLite zeroes the pages the dropped bodies leave (secure_delete), so the file and later backups hold
none of them; PostgreSQL keeps dropped column data in its files (never in a pg_dump) until the rows
are rewritten: run `VACUUM FULL outbox_mail` after upgrading if old files may leak.

Revision ID: 0003_outbox_v2
Revises: 0002_account_lifecycle
Create Date: 2026-12-02 03:00:00
"""
import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "0003_outbox_v2"
down_revision = "0002_account_lifecycle"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, never batch mode: SQLite (3.35+) adds and drops these columns in place, while a
# batch copy of "user" would lose its expression indexes (the case-insensitive unique username and email).

def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("PRAGMA secure_delete = ON")  # for this connection: freed pages are overwritten with zeros
    op.add_column("outbox_mail", sa.Column("language", sa.String(length=16), nullable=False, server_default="en"))
    op.add_column("outbox_mail", sa.Column("params", sa.JSON(), nullable=False, server_default="{}"))
    for name in ("subject", "body_text", "body_html"):
        op.drop_column("outbox_mail", name)
    op.add_column("user", sa.Column("verify_code_nonce", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    user = sa.table("user", sa.column("id", sa.Integer), sa.column("verify_code_hash", sa.String),
                    sa.column("verify_code_nonce", sa.String), sa.column("verify_code_attempts", sa.Integer))
    holders = connection.execute(sa.select(user.c.id).where(user.c.verify_code_hash.is_not(None))).scalars().all()
    for user_id in holders:
        connection.execute(user.update().where(user.c.id == user_id).values(
            verify_code_nonce=f"{int(time.time())}${secrets.token_hex(16)}", verify_code_attempts=0))
    op.drop_column("user", "verify_code_hash")


def downgrade():
    """Back to the old columns. Rows still unsent would go out with empty bodies: drain the outbox first."""
    op.add_column("user", sa.Column("verify_code_hash", sa.String(length=255), nullable=True))
    op.drop_column("user", "verify_code_nonce")
    op.add_column("outbox_mail", sa.Column("subject", sa.String(length=200), nullable=False, server_default=""))
    op.add_column("outbox_mail", sa.Column("body_text", sa.Text(), nullable=False, server_default=""))
    op.add_column("outbox_mail", sa.Column("body_html", sa.Text(), nullable=True))
    op.drop_column("outbox_mail", "params")
    op.drop_column("outbox_mail", "language")
