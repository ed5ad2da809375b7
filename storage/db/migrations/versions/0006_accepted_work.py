"""accepted work: what a request was acknowledged for, kept until it is done

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accepted_work",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accepted_work")),
    )
    op.create_index(op.f("ix_accepted_work_lease_until"), "accepted_work", ["lease_until"])


def downgrade() -> None:
    op.drop_index(op.f("ix_accepted_work_lease_until"), table_name="accepted_work")
    op.drop_table("accepted_work")
