"""leavers: when a lender's leaving was settled, and which payout requests are a leaver's

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lenders") as batch:
        batch.add_column(sa.Column("left_at", sa.DateTime(), nullable=True))
    # Leavers are few among 115,000: each repayment round looks for their credit through this.
    op.create_index(
        "ix_lenders_leavers",
        "lenders",
        ["id"],
        postgresql_where=sa.text("deactivated"),
        sqlite_where=sa.text("deactivated"),
    )
    with op.batch_alter_table("payout_requests") as batch:
        batch.add_column(
            sa.Column(
                "reason",
                sa.Enum(
                    "withdrawal",
                    "leaver",
                    name="payout_reason",
                    native_enum=False,
                    create_constraint=True,
                    length=20,
                ),
                nullable=False,
                server_default="withdrawal",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("payout_requests") as batch:
        batch.drop_column("reason")
    op.drop_index("ix_lenders_leavers", table_name="lenders")
    with op.batch_alter_table("lenders") as batch:
        batch.drop_column("left_at")
