"""lenders keep what Slack's directory says of them: real name, locale, guest, other
organisation, bot, deactivated, and when it was last asked; the lookups not answered yet,
and where an unfinished directory sync resumes

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FLAGS = ("is_restricted", "is_ultra_restricted", "is_external", "is_bot", "deactivated")


def upgrade() -> None:
    with op.batch_alter_table("lenders") as batch:
        batch.add_column(sa.Column("real_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("locale", sa.String(length=35), nullable=True))
        for flag in FLAGS:
            # Existing lenders are what the app assumed until now: employees, active.
            batch.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        batch.add_column(sa.Column("looked_up_at", sa.DateTime(), nullable=True))
    op.create_table(
        "pending_lookups",
        sa.Column("org_key", sa.String(length=32), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("org_key", "slack_user_id", name=op.f("pk_pending_lookups")),
    )

    op.create_table(
        "directory_syncs",
        sa.Column("org_key", sa.String(length=32), nullable=False),
        sa.Column("next_cursor", sa.String(length=255), nullable=False),
        sa.Column("pages_done", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("org_key", name=op.f("pk_directory_syncs")),
    )


def downgrade() -> None:
    op.drop_table("directory_syncs")
    op.drop_table("pending_lookups")
    with op.batch_alter_table("lenders") as batch:
        for column in ("looked_up_at", *reversed(FLAGS), "locale", "real_name"):
            batch.drop_column(column)
