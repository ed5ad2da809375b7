"""Auto-relend: a lender's opt-in preference that puts credit back to work by itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.ledger.models import Account, AccountKind
from storage.lending.models import Lender
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.models import Project, ProjectStatus

CANDIDATES = 20


@dataclass(frozen=True)
class AutolendResult:
    lenders: int
    pledges: int
    amount: int


def run_autolend(
    factory: sessionmaker[Session], rules: LendingRules, *, now: datetime | None = None
) -> AutolendResult:
    """Place the credit of every opted-in lender who has at least the minimum pledge.

    Keys name the lender, the day and the project, so a second run on the same day cannot
    lend the same money twice.
    """
    moment = now or utcnow()
    with factory() as session:
        lenders = session.execute(_eligible(rules)).all()
    pledges = amount = 0
    for lender_id, available, country, sector in lenders:
        placed = _place(factory, rules, moment, lender_id, available, country, sector)
        pledges += len(placed)
        amount += sum(placed)
    return AutolendResult(len(lenders), pledges, amount)


def _eligible(rules: LendingRules) -> Select[int, int, str | None, str | None]:
    return (
        select(Lender.id, Account.balance, Lender.autolend_country, Lender.autolend_sector)
        .join(Account, (Account.lender_id == Lender.id) & (Account.kind == AccountKind.AVAILABLE))
        .where(
            Lender.autolend.is_(True),
            Lender.deactivated.is_(False),
            Account.balance >= rules.min_pledge,
        )
        .order_by(Lender.id)
    )


def _place(
    factory: sessionmaker[Session],
    rules: LendingRules,
    now: datetime,
    lender_id: int,
    available: int,
    country: str | None,
    sector: str | None,
) -> list[int]:
    placed: list[int] = []
    for project_id, still_needed in _candidates(factory, now, country, sector):
        amount = min(available, still_needed)
        if amount < rules.min_pledge and amount != still_needed:
            continue
        key = f"autolend:{lender_id}:{now.date().isoformat()}:{project_id}"
        request = PledgeRequest(lender_id, project_id, amount, credit_only=True, automatic=True)
        outcome = pledge(factory, request, rules, key=key, now=now)
        if outcome.ok and not outcome.replayed:
            placed.append(amount)
            available -= amount
        if available < rules.min_pledge:
            break
    return placed


def _candidates(
    factory: sessionmaker[Session], now: datetime, country: str | None, sector: str | None
) -> list[tuple[int, int]]:
    """Open projects matching the criteria, those closest to being funded first."""
    still_needed = Project.amount - Project.funded
    query = select(Project.id, still_needed).where(
        Project.status == ProjectStatus.FUNDRAISING, Project.deadline > now
    )
    if country:
        query = query.where(func.lower(Project.country) == country.lower())
    if sector:
        query = query.where(func.lower(Project.sector) == sector.lower())
    with factory() as session:
        rows = session.execute(query.order_by(still_needed, Project.id).limit(CANDIDATES))
        return [(project_id, needed) for project_id, needed in rows]
