"""Writing balanced transactions of postings, which are never changed.

Each account's ``balance`` is a cache of the sum of its postings, updated in the same
transaction as the postings are written; CHECK constraints keep a lender's own money
from going below zero."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    SQLColumnExpression,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from storage.db.engine import rowcount
from storage.ledger.models import (
    Account,
    AccountKind,
    LedgerTransaction,
    Posting,
)
from storage.lending.models import Pledge


class UnbalancedTransaction(ValueError):
    """A transaction whose legs do not sum to zero: a programming error, never user input."""


class InsufficientBalance(RuntimeError):
    """A lender's account would have gone below zero: a concurrent writer spent it first."""

    def __init__(self, account_id: int) -> None:
        super().__init__(f"account {account_id} would go below zero")
        self.account_id = account_id


GUARDED_KINDS = (AccountKind.AVAILABLE, AccountKind.COMMITTED, AccountKind.OUTSTANDING)


@dataclass(frozen=True)
class Leg:
    account_id: int
    amount: int
    pledge_id: int | None = None


def post(
    session: Session,
    kind: str,
    legs: Iterable[Leg],
    *,
    now: datetime,
    operation_key: str | None = None,
) -> int:
    """Write one balanced transaction and move the balances it touches; returns its id."""
    legs = [leg for leg in legs if leg.amount != 0]
    if sum(leg.amount for leg in legs) != 0:
        raise UnbalancedTransaction(f"{kind}: legs sum to {sum(leg.amount for leg in legs)}")
    transaction_id = new_transaction(session, kind, now=now, operation_key=operation_key)
    if not legs:
        return transaction_id
    session.execute(
        insert(Posting),
        [
            {
                "transaction_id": transaction_id,
                "account_id": leg.account_id,
                "amount": leg.amount,
                "pledge_id": leg.pledge_id,
            }
            for leg in legs
        ],
    )
    deltas: dict[int, int] = defaultdict(int)
    for leg in legs:
        deltas[leg.account_id] += leg.amount
    for account_id, delta in sorted(deltas.items()):
        move_balance(session, account_id, delta)
    return transaction_id


def move_balance(session: Session, account_id: int, delta: int) -> None:
    """Add ``delta`` to a balance, refusing to take a lender's money below zero.

    The condition sits in the UPDATE itself: PostgreSQL at READ COMMITTED re-checks the WHERE
    clause after a concurrent writer commits, so two spenders can never both pass; on SQLite
    writers are serialised by BEGIN IMMEDIATE. Sorted account order avoids deadlocks.
    """
    statement = update(Account).where(Account.id == account_id)
    if delta < 0:
        statement = statement.where(
            Account.kind.not_in(GUARDED_KINDS) | (Account.balance + delta >= 0)
        )
    if rowcount(session.execute(statement.values(balance=Account.balance + delta))) != 1:
        raise InsufficientBalance(account_id)


def post_rows(
    session: Session,
    kind: str,
    rows: Select[int, int, int | None] | CompoundSelect[int, int, int],
    *,
    now: datetime,
    operation_key: str | None = None,
    lock_accounts: bool = True,
) -> int:
    """Write a transaction whose legs a query chooses (account, amount, pledge), set-based.

    The legs are inserted with one INSERT ... SELECT and the balances moved with one
    UPDATE ... FROM their per-account sums, however many lenders the transaction touches.
    Its accounts are first taken in id order (``lock_in_order``) unless ``lock_accounts`` is
    false: the caller holds them already, or prefers retrying a rare deadlock to the cost.
    """
    transaction_id = new_transaction(session, kind, now=now, operation_key=operation_key)
    legs = rows.subquery()
    account_id, amount, pledge_id = legs.c
    session.execute(
        insert(Posting).from_select(
            ["transaction_id", "account_id", "amount", "pledge_id"],
            select(literal(transaction_id), account_id, amount, pledge_id).where(amount != 0),
        )
    )
    per_account = (
        select(Posting.account_id, func.sum(Posting.amount).label("delta"))
        .where(Posting.transaction_id == transaction_id)
        .group_by(Posting.account_id)
        .subquery()
    )
    total = session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0)).where(
            Posting.transaction_id == transaction_id
        )
    ).scalar_one()
    if total != 0:
        raise UnbalancedTransaction(f"{kind}: legs sum to {total}")
    if lock_accounts:
        lock_in_order(session, select(per_account.c.account_id))
    session.execute(
        update(Account)
        .where(Account.id == per_account.c.account_id)
        .values(balance=Account.balance + per_account.c.delta)
        .execution_options(synchronize_session=False)
    )
    return transaction_id


def lock_in_order(session: Session, account_ids: Select[int]) -> None:
    """Take the accounts a transaction moves in id order, as ``post`` does: two writers that
    move the same balances then queue instead of deadlocking. A writer that posts several
    times takes all its accounts first, in one go. (SQLite has one writer.)"""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(Account.id)
            .where(Account.id.in_(account_ids))
            .order_by(Account.id)
            # The lock an UPDATE takes: postings inserted meanwhile (their key share) pass.
            .with_for_update(key_share=True)
        )


def new_transaction(
    session: Session, kind: str, *, now: datetime, operation_key: str | None = None
) -> int:
    """Open a transaction header; set-based writers add its postings themselves."""
    return session.execute(
        insert(LedgerTransaction)
        .values(kind=kind, operation_key=operation_key, created_at=now)
        .returning(LedgerTransaction.id)
    ).scalar_one()


def move_pledges(
    condition: ColumnElement[bool],
    amount: SQLColumnExpression[int],
    source: AccountKind,
    target: AccountKind,
) -> CompoundSelect[int, int, int]:
    """Legs moving ``amount`` of each chosen live pledge from one lender account to another."""
    legs = []
    for kind, sign in ((source, -1), (target, 1)):
        legs.append(
            select(
                Account.id.label("account_id"),
                (sign * amount).label("amount"),
                Pledge.id.label("pledge_id"),
            )
            .select_from(Pledge)
            .join(Account, (Account.lender_id == Pledge.lender_id) & (Account.kind == kind))
            .where(condition, Pledge.refunded.is_(False))
        )
    return union_all(*legs)
