"""The scheduled ticks that enqueue notifications, each keyed by its period.

A tick writes outbox rows whose dedupe keys name the period they are about (the day a project
became delinquent, the month of an idle-credit reminder, the ISO week of a circle summary), so
running a tick twice, or late, never tells anyone twice; a missed run is caught up by the next.
All of them are set-based: one INSERT ... SELECT each, however many lenders they reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage import outbox
from storage.models import (
    Account,
    AccountKind,
    Circle,
    LedgerTransaction,
    Lender,
    Posting,
    Project,
)
from storage.projects import LENT_STATUSES, is_delinquent
from storage.rules import LendingRules

IDLE_DAYS = 30


@dataclass(frozen=True)
class TickResult:
    """What a tick did: rows changed (projects flagged, ...) and notifications queued."""

    changed: int
    queued: int


def flag_delinquent(
    factory: sessionmaker[Session], rules: LendingRules, *, now: datetime
) -> TickResult:
    """Mark loans behind schedule and tell their lenders once per episode of lateness.

    The schedule rule lives in ``storage.projects.is_delinquent``; it is applied to the lent
    projects not yet flagged, streamed, and the flagging itself is one UPDATE.
    """
    today = now.date()
    with factory() as session, session.begin():
        candidates = session.execute(
            select(Project)
            .where(Project.status.in_(LENT_STATUSES), Project.delinquent_since.is_(None))
            .execution_options(yield_per=1000)
        ).scalars()
        late = [p.id for p in candidates if is_delinquent(p, today, rules.delinquent_after_days)]
        if not late:
            return TickResult(0, 0)
        session.execute(
            update(Project)
            .where(Project.id.in_(late))
            .values(delinquent_since=today)
            .execution_options(synchronize_session=False)
        )
        # The day in the key: a loan that recovers and falls behind again is news again.
        queued = outbox.enqueue_select(
            session,
            kind="delinquent",
            targets=outbox.lender_targets(
                f"delinquent:{today.isoformat()}", select(Project.id).where(Project.id.in_(late))
            ),
            payload={},
            now=now,
        )
        return TickResult(len(late), queued)


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
            kind="idle_credit",
            targets=_idle_targets(month, rules.min_pledge, now - timedelta(days=IDLE_DAYS)),
            payload={"month": month},
            now=now,
        )
    return TickResult(queued, queued)


def _idle_targets(month: str, minimum: int, since: datetime) -> Select[Any]:
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


def last_week_start(now: datetime) -> date:
    """The Monday of the ISO week before the one ``now`` is in."""
    today = now.date()
    return today - timedelta(days=today.weekday() + 7)


def circle_weekly_summaries(factory: sessionmaker[Session], *, now: datetime) -> TickResult:
    """A summary of last week in each circle's channel, unless its lead turned them off."""
    week = last_week_start(now)
    label = f"{week.isocalendar().year}-W{week.isocalendar().week:02d}"
    targets = select(
        outbox.key(f"circle_summary:{label}", Circle.id).label("dedupe_key"),
        Circle.workspace_id.label("workspace_id"),
        outbox.no_id().label("lender_id"),
        Circle.channel_id.label("channel_id"),
        outbox.no_id().label("project_id"),
        Circle.id.label("circle_id"),
    ).where(Circle.weekly_summary.is_(True))
    with factory() as session, session.begin():
        queued = outbox.enqueue_select(
            session,
            kind="circle_summary",
            targets=targets,
            payload={"week_start": week.isoformat()},
            now=now,
        )
    return TickResult(queued, queued)
