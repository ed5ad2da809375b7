"""a project's external id is unique within its source (Kiva, or one partner), not everywhere

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Kiva's partners are stored as kiva:<id>; every other partner's loans are that partner's.
SOURCE_OF_EXISTING = """
UPDATE projects SET source = (
    SELECT CASE WHEN partners.external_id LIKE 'kiva:%' THEN 'kiva'
                ELSE 'partner:' || partners.external_id END
    FROM partners WHERE partners.id = projects.partner_id
)
"""


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("source", sa.String(length=80), nullable=True))
    op.execute(SOURCE_OF_EXISTING)
    with op.batch_alter_table("projects") as batch:
        batch.alter_column("source", existing_type=sa.String(length=80), nullable=False)
        batch.drop_constraint("uq_projects_external_id", type_="unique")
        batch.create_unique_constraint("uq_projects_source_external_id", ["source", "external_id"])
        batch.create_index("ix_projects_external_id", ["external_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_index("ix_projects_external_id")
        batch.drop_constraint("uq_projects_source_external_id", type_="unique")
        batch.create_unique_constraint("uq_projects_external_id", ["external_id"])
        batch.drop_column("source")
