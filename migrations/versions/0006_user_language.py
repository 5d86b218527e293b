"""user language: the interface language an account chose, for its pages and its mail

Revision ID: 0006_user_language
Revises: 0005_user_disabled
Create Date: 2026-12-02 04:10:00

One nullable column (None: never chosen, so Accept-Language decides): a plain ADD COLUMN (and DROP
COLUMN down), no batch rebuild of "user" on SQLite, which would lose its lower() unique indexes.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_user_language"
down_revision = "0005_user_disabled"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("user", sa.Column("language", sa.String(length=8), nullable=True))


def downgrade():
    op.drop_column("user", "language")  # SQLite 3.35+ drops a column in place (a batch copy would lose lower() indexes)
