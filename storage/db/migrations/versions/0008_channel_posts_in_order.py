"""channel posts go out in the order their events happened: an index finds a channel's
unsettled posts, without the DMs

Revision ID: 0008
Revises: 0007

A claim takes a post to a channel only when no earlier post to that channel is pending or on
its way; without this index that question read every unsettled row (seconds per claim behind
a repayment round's DMs), with it a few entries of one channel.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_channel_posts",
        "notifications",
        ["channel_id", "status", "created_at", "id"],
        postgresql_where=sa.text("lender_id IS NULL"),
        sqlite_where=sa.text("lender_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_channel_posts", table_name="notifications")
