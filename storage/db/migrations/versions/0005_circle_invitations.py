"""circle invitations: who may join a circle from outside its channel

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "circle_invitations",
        sa.Column("circle_id", sa.Integer(), nullable=False),
        sa.Column("invitee_id", sa.Integer(), nullable=False),
        sa.Column("inviter_id", sa.Integer(), nullable=False),
        sa.Column("invited_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["circle_id"], ["circles.id"], name=op.f("fk_circle_invitations_circle_id_circles")
        ),
        sa.ForeignKeyConstraint(
            ["invitee_id"], ["lenders.id"], name=op.f("fk_circle_invitations_invitee_id_lenders")
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"], ["lenders.id"], name=op.f("fk_circle_invitations_inviter_id_lenders")
        ),
        sa.PrimaryKeyConstraint("circle_id", "invitee_id", name=op.f("pk_circle_invitations")),
    )
    op.create_index(op.f("ix_circle_invitations_invitee_id"), "circle_invitations", ["invitee_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_circle_invitations_invitee_id"), table_name="circle_invitations")
    op.drop_table("circle_invitations")
