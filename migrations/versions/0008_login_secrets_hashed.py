"""login sessions keyed by a hash of their secret, with the time each was last seen

Revision ID: 0008_login_secrets_hashed
Revises: 0007_avatars
Create Date: 2026-12-04 03:20:00

The table is made again, empty: its ids were the very secrets the cookies carry, and a row's hash
cannot be derived into a cookie that browsers already hold without keeping those secrets, which is the
point of the change (a stolen database or backup must log no one in). Deploying it logs everyone out
once. `last_seen_at` ends a login without "keep me logged in" after SESSION_IDLE_MINUTES.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_login_secrets_hashed"
down_revision = "0007_avatars"
branch_labels = None
depends_on = None


def create_login_session(with_last_seen):
    columns = [
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("remember", sa.Boolean(), nullable=False),
    ]
    if with_last_seen:
        columns.append(sa.Column("last_seen_at", sa.DateTime(), nullable=False))
    op.create_table(
        "login_session", *columns,
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_login_session_user_id_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_session")),
    )
    op.create_index(op.f("ix_login_session_user_id"), "login_session", ["user_id"])
    op.create_index(op.f("ix_login_session_created_at"), "login_session", ["created_at"])


def drop_login_session():
    op.drop_index(op.f("ix_login_session_created_at"), table_name="login_session")
    op.drop_index(op.f("ix_login_session_user_id"), table_name="login_session")
    op.drop_table("login_session")


def upgrade():
    drop_login_session()
    create_login_session(with_last_seen=True)


def downgrade():
    drop_login_session()
    create_login_session(with_last_seen=False)
