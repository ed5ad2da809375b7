"""The monthly reminder of credit left unused, keyed by month so it is told once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.ledger.models import Account, AccountKind, LedgerTransaction, Posting
from storage.lending.models import Lender
from storage.lending.rules import LendingRules
from storage.notifications import outbox
from storage.notifications.kinds import Kind
from storage.notifications.outbox import TickResult

IDLE_DAYS = 30


def idle_credit_reminders(
    factory: sessionmaker[Session], rules: LendingRules, *, now: datetime
) -> TickResult:
    """Once a month, remind lenders whose credit of at least the minimum pledge sat unused.

    Credit that arrived within the last 30 days has not sat long enough, so it is subtracted
    from today's balance: what remains was already there 30 days ago and is still unspent.
    """
    month = now.strftime("%Y-%m")
    with factory() as session, session.begin():
        queued = outbox.enqueue_select(
            session,
            kind=Kind.IDLE_CREDIT,
            targets=_idle_targets(month, rules.min_pledge, now - timedelta(days=IDLE_DAYS)),
            payload={"month": month},
            now=now,
        )
    return TickResult(queued, queued)


def _idle_targets(month: str, minimum: int, since: datetime) -> outbox.Targets:
    recent = (
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .where(
            Posting.account_id == Account.id,
            Posting.amount > 0,
            LedgerTransaction.created_at >= since,
        )
        .scalar_subquery()
    )
    return (
        select(
            outbox.key(f"idle_credit:{month}", Lender.id).label("dedupe_key"),
            Lender.workspace_id.label("workspace_id"),
            Lender.id.label("lender_id"),
            outbox.no_text().label("channel_id"),
            outbox.no_id().label("project_id"),
            outbox.no_id().label("circle_id"),
        )
        .join(Account, (Account.lender_id == Lender.id) & (Account.kind == AccountKind.AVAILABLE))
        .where(Account.balance >= minimum, Account.balance - recent >= minimum)
    )
