"""avatars: the uploads a worker processes and the pictures it makes, both in the database

Revision ID: 0007_avatars
Revises: 0006_user_language
Create Date: 2026-12-02 04:10:00

New tables only; both go with their account (ON DELETE CASCADE) and are copied by jobs/backup.py
with the rest of the database.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_avatars"
down_revision = "0006_user_language"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "avatar_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_avatar_upload_user_id_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avatar_upload")),
    )
    op.create_index(op.f("ix_avatar_upload_user_id"), "avatar_upload", ["user_id"])
    op.create_table(
        "avatar_picture",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_avatar_picture_user_id_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avatar_picture")),
        sa.UniqueConstraint("user_id", "size", name=op.f("uq_avatar_picture_user_id")),
    )
    op.create_index(op.f("ix_avatar_picture_digest"), "avatar_picture", ["digest"])


def downgrade():
    op.drop_index(op.f("ix_avatar_picture_digest"), table_name="avatar_picture")
    op.drop_table("avatar_picture")
    op.drop_index(op.f("ix_avatar_upload_user_id"), table_name="avatar_upload")
    op.drop_table("avatar_upload")
