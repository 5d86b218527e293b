"""second factors: an authenticator app's secret, recovery codes, passkeys; what a login's device was

Revision ID: 0009_second_factors
Revises: 0008_login_secrets_hashed
Create Date: 2026-12-04 05:40:00

Nullable columns by plain ADD COLUMN (and DROP COLUMN down): a batch rebuild of "user" on SQLite would
lose its lower() unique indexes.
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_second_factors"
down_revision = "0008_login_secrets_hashed"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("user", sa.Column("totp_secret", sa.String(length=255), nullable=True))
    op.add_column("user", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column("user", sa.Column("totp_enabled_at", sa.DateTime(), nullable=True))
    op.add_column("login_session", sa.Column("user_agent", sa.String(length=255), nullable=True))
    op.add_column("login_session", sa.Column("signed_in_from", sa.String(length=64), nullable=True))
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_recovery_code_user_id_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
    )
    op.create_index(op.f("ix_recovery_code_user_id"), "recovery_code", ["user_id"])
    op.create_table(
        "passkey",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_passkey_user_id_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkey")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkey_credential_id")),
    )
    op.create_index(op.f("ix_passkey_user_id"), "passkey", ["user_id"])


def downgrade():
    op.drop_index(op.f("ix_passkey_user_id"), table_name="passkey")
    op.drop_table("passkey")
    op.drop_index(op.f("ix_recovery_code_user_id"), table_name="recovery_code")
    op.drop_table("recovery_code")
    for column in ("signed_in_from", "user_agent"):
        op.drop_column("login_session", column)
    for column in ("totp_enabled_at", "totp_last_step", "totp_secret"):
        op.drop_column("user", column)
