"""send budget shared by the delivery workers

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No row is seeded: a budget's row is created by its first reservation or pause.
    op.create_table(
        "send_budgets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_slot", sa.Double(), nullable=False),
        sa.Column("paused_until", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_send_budgets")),
    )


def downgrade() -> None:
    op.drop_table("send_budgets")
