"""room for repayments: pledges and accounts keep free space on their pages, and the pledge
indexes on circle and payroll export hold only the pledges that have one

Revision ID: 0007
Revises: 0006

A repayment round rewrites every pledge of its projects and the balances of their lenders.
With free space on the page PostgreSQL writes the new row version beside the old one and
leaves the indexes alone (a heap-only tuple update); without it, every index of the table gets a
new entry per row. The fillfactor applies to pages written from now on: an existing database
gets the room as its tables are rewritten (``VACUUM FULL pledges, accounts`` does it at once).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The values of storage/lending/models.py and storage/ledger/models.py when this was written;
# a migration keeps its own copy, as the models may move on.
FILLFACTORS = {"pledges": 50, "accounts": 60}
SPARSE_COLUMNS = ("circle_id", "payroll_export_id")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, fillfactor in FILLFACTORS.items():
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")
    for column in SPARSE_COLUMNS:
        name = f"ix_pledges_{column}"
        op.drop_index(name, table_name="pledges")
        op.create_index(
            name,
            "pledges",
            [column],
            postgresql_where=sa.text(f"{column} IS NOT NULL"),
            sqlite_where=sa.text(f"{column} IS NOT NULL"),
        )


def downgrade() -> None:
    for column in SPARSE_COLUMNS:
        name = f"ix_pledges_{column}"
        op.drop_index(name, table_name="pledges")
        op.create_index(name, "pledges", [column])
    if op.get_bind().dialect.name == "postgresql":
        for table in FILLFACTORS:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
