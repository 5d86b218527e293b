"""user language: the interface language an account chose, for its pages and its mail

Revision ID: 0005_user_language
Revises: 0004_login_sessions
Create Date: 2026-12-02 04:10:00

One nullable column (None: never chosen, so Accept-Language decides): a plain ADD COLUMN, no batch
rebuild of "user" on SQLite.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_user_language"
down_revision = "0004_login_sessions"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("user", sa.Column("language", sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_column("language")
