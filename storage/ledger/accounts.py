"""Ledger accounts: each lender's, the programme's, and their balances."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    insert,
    select,
)
from sqlalchemy.orm import Session

from storage.ledger.models import (
    LENDER_ACCOUNT_KINDS,
    SYSTEM_ACCOUNT_KINDS,
    Account,
    AccountKind,
)


@dataclass(frozen=True)
class LenderAccounts:
    available: int
    committed: int
    outstanding: int
    payroll: int


def open_lender_accounts(session: Session, lender_id: int) -> None:
    session.execute(
        insert(Account),
        [{"lender_id": lender_id, "kind": kind, "balance": 0} for kind in LENDER_ACCOUNT_KINDS],
    )


def lender_accounts(session: Session, lender_id: int) -> LenderAccounts:
    rows = session.execute(
        select(Account.kind, Account.id).where(Account.lender_id == lender_id)
    ).all()
    ids = {kind: account_id for kind, account_id in rows}
    return LenderAccounts(
        available=ids[AccountKind.AVAILABLE],
        committed=ids[AccountKind.COMMITTED],
        outstanding=ids[AccountKind.OUTSTANDING],
        payroll=ids[AccountKind.PAYROLL],
    )


def system_account(session: Session, kind: AccountKind) -> int:
    return session.execute(
        select(Account.id).where(Account.lender_id.is_(None), Account.kind == kind)
    ).scalar_one()


def ensure_system_accounts(session: Session) -> None:
    """Create any missing programme-wide account; the initial migration inserts them itself."""
    existing = set(
        session.execute(select(Account.kind).where(Account.lender_id.is_(None))).scalars()
    )
    missing = [kind for kind in SYSTEM_ACCOUNT_KINDS if kind not in existing]
    if missing:
        session.execute(insert(Account), [{"kind": kind, "balance": 0} for kind in missing])


def balance(session: Session, account_id: int) -> int:
    return session.execute(select(Account.balance).where(Account.id == account_id)).scalar_one()


def lender_balance(session: Session, lender_id: int, kind: AccountKind) -> int:
    return session.execute(
        select(Account.balance).where(Account.lender_id == lender_id, Account.kind == kind)
    ).scalar_one()
