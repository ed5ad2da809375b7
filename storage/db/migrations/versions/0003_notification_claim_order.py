"""claims read the outbox in (due_at, id) order from the index

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_notifications_status_due_at_id", "notifications", ["status", "due_at", "id"]
    )
    op.drop_index("ix_notifications_status_due_at", table_name="notifications")


def downgrade() -> None:
    op.create_index("ix_notifications_status_due_at", "notifications", ["status", "due_at"])
    op.drop_index("ix_notifications_status_due_at_id", table_name="notifications")
