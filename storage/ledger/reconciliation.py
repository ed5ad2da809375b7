"""The ledger's invariants, checked for tests and operators."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from storage.ledger.models import (
    Account,
    Posting,
)


@dataclass(frozen=True)
class LedgerCheck:
    postings_total: int
    unbalanced_transactions: int
    stale_balances: int


def check_ledger(session: Session) -> LedgerCheck:
    """The ledger's invariants, for tests and the operator: all should be zero."""
    total = session.execute(select(func.coalesce(func.sum(Posting.amount), 0))).scalar_one()
    unbalanced = session.execute(
        select(func.count()).select_from(
            select(Posting.transaction_id)
            .group_by(Posting.transaction_id)
            .having(func.sum(Posting.amount) != 0)
            .subquery()
        )
    ).scalar_one()
    sums = (
        select(Posting.account_id, func.sum(Posting.amount).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    stale = session.execute(
        select(func.count())
        .select_from(Account)
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.balance != func.coalesce(sums.c.total, 0))
    ).scalar_one()
    return LedgerCheck(
        postings_total=total, unbalanced_transactions=unbalanced, stale_balances=stale
    )
