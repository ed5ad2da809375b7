"""The reconciliation as a test assertion: every broken rule, with its rows, in the failure."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.db.database import Database
from storage.ledger.reconciliation import Reconciliation, reconcile


def describe(found: Reconciliation) -> str:
    lines = []
    for broken in found.broken:
        lines.append(f"{broken.rule.name} ({broken.count}): {broken.rule.promise}")
        lines.append(f"  {', '.join(broken.columns)}")
        lines.extend(f"  {row}" for row in broken.rows)
    return "\n".join(lines)


def assert_session_reconciled(session: Session) -> None:
    found = reconcile(session)
    assert found.ok, "the books do not reconcile:\n" + describe(found)


def assert_reconciled(db: Database) -> None:
    with db.sessions() as session:
        assert_session_reconciled(session)
