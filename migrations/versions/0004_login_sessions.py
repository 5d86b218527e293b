"""login sessions: one row per login, so logging out ends one device only

Revision ID: 0004_login_sessions
Revises: 0003_outbox_v2
Create Date: 2026-12-02 03:40:00

A new table only: no batch rebuild of "user", so its lower() unique indexes and the foreign keys that
refer to it are untouched on SQLite. Cookies issued before this named the session token alone and open
nothing afterwards: deploying it logs everyone out once.
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_login_sessions"
down_revision = "0003_outbox_v2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "login_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_login_session_user_id_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_session")),
    )
    op.create_index(op.f("ix_login_session_user_id"), "login_session", ["user_id"])
    op.create_index(op.f("ix_login_session_created_at"), "login_session", ["created_at"])


def downgrade():
    op.drop_index(op.f("ix_login_session_created_at"), table_name="login_session")
    op.drop_index(op.f("ix_login_session_user_id"), table_name="login_session")
    op.drop_table("login_session")
