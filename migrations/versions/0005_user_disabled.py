"""user.disabled_at: an administrator can disable an account (no login, its sessions end)

Revision ID: 0005_user_disabled
Revises: 0004_login_sessions
Create Date: 2026-12-02 04:10:00

A nullable column added and dropped in place (plain ALTER TABLE; SQLite 3.35+ drops columns too): no batch
rebuild of "user", so its lower() unique indexes and the foreign keys that refer to it are untouched.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_user_disabled"
down_revision = "0004_login_sessions"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("user", sa.Column("disabled_at", sa.DateTime(), nullable=True))


def downgrade():
    op.drop_column("user", "disabled_at")
