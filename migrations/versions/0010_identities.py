"""accounts at other providers (OpenID Connect, OAuth 2) linked to an account

Revision ID: 0010_identities
Revises: 0009_second_factors
Create Date: 2026-12-04 06:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0010_identities"
down_revision = "0009_second_factors"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_identity_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_identity_provider")),
    )
    op.create_index(op.f("ix_identity_user_id"), "identity", ["user_id"])


def downgrade():
    op.drop_index(op.f("ix_identity_user_id"), table_name="identity")
    op.drop_table("identity")
