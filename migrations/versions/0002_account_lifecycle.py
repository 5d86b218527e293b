"""account lifecycle: a per-account session token, backfilled for existing accounts

Revision ID: 0002_account_lifecycle
Revises: f0d818fa76c3
Create Date: 2026-12-02 03:00:00

"""
import secrets
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0002_account_lifecycle"
down_revision = "f0d818fa76c3"
branch_labels = None
depends_on = None

user = sa.table("user", sa.column("id", sa.Integer), sa.column("session_token", sa.String))


@contextmanager
def rebuilt_user_table():
    """Alter "user" in batch mode, which on SQLite copies the table into a new one.

    SQLite cannot reflect the lower() unique indexes, so the copy would silently lose them: they are
    dropped first and created again after (migrations/env.py keeps the foreign keys off for the copy).
    """
    op.drop_index("uq_user_email_lower", table_name="user")
    op.drop_index("uq_user_username_lower", table_name="user")
    with op.batch_alter_table("user") as batch_op:
        yield batch_op
    op.create_index("uq_user_username_lower", "user", [sa.text("lower(username)")], unique=True)
    op.create_index("uq_user_email_lower", "user", [sa.text("lower(email)")], unique=True)


def upgrade():
    op.add_column("user", sa.Column("session_token", sa.String(length=64), nullable=True))
    # One random token per existing account, drawn here rather than in SQL: the same on SQLite and PostgreSQL.
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(user.c.id)).all():
        connection.execute(user.update().where(user.c.id == user_id).values(session_token=secrets.token_urlsafe(32)))
    with rebuilt_user_table() as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_user_session_token"), ["session_token"])


def downgrade():
    with rebuilt_user_table() as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_user_session_token"), type_="unique")
        batch_op.drop_column("session_token")
