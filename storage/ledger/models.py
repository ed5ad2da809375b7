"""The ledger's tables: accounts, transactions and their postings."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base, string_enum

# Room on each page of accounts for a round's new balances (see PLEDGES_FILLFACTOR): a lender's
# accounts are smaller than their pledges, and not all of them move in one round.
ACCOUNTS_FILLFACTOR = 60


class AccountKind(enum.StrEnum):
    # A lender's own money, by where it is now.
    AVAILABLE = "available"
    COMMITTED = "committed"
    OUTSTANDING = "outstanding"
    # Sources and sinks; their balances run negative as money flows out of them.
    PAYROLL = "payroll"
    GRANTS = "grants"
    PAYOUTS = "payouts"
    LOSSES = "losses"


LENDER_ACCOUNT_KINDS = (
    AccountKind.AVAILABLE,
    AccountKind.COMMITTED,
    AccountKind.OUTSTANDING,
    AccountKind.PAYROLL,
)
SYSTEM_ACCOUNT_KINDS = (AccountKind.GRANTS, AccountKind.PAYOUTS, AccountKind.LOSSES)


class Account(Base):
    """A ledger account. ``balance`` is a cache of the sum of its postings, kept in step."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("lender_id", "kind", name="uq_accounts_lender_kind"),
        CheckConstraint(
            "kind NOT IN ('available', 'committed', 'outstanding') OR balance >= 0",
            name="lender_money_nonnegative",
        ),
        # Balances move with every posting; see Pledge for why the pages keep room.
        {"postgresql_with": {"fillfactor": ACCOUNTS_FILLFACTOR}},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lender_id: Mapped[int | None] = mapped_column(ForeignKey("lenders.id"))
    kind: Mapped[AccountKind] = mapped_column(string_enum(AccountKind, "account_kind"))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    operation_key: Mapped[str | None] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Posting(Base):
    """One leg of a transaction; the legs of a transaction sum to zero. Never updated."""

    __tablename__ = "postings"
    __table_args__ = (CheckConstraint("amount <> 0", name="amount_nonzero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    pledge_id: Mapped[int | None] = mapped_column(Integer)
