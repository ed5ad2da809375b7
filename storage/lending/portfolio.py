"""Read-only queries about lenders: their loans, credit and impact, and the company's totals.

A fixed number of set-based statements each, however many loans a lender has (the Home tab of
someone with 500 loans costs what it costs for one), returning frozen view models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Subquery, case, distinct, func, select
from sqlalchemy.orm import Session

from storage.circles.models import Circle, CircleMember
from storage.ledger.models import Account, AccountKind
from storage.lending.lenders import LenderRef, known_lender_id
from storage.lending.models import Pledge
from storage.projects.models import Project, ProjectStatus
from storage.projects.schedule import Instalment, next_expected
from storage.repayments.sharing import PledgeState, apportion

ACTIVE_STATUSES = (ProjectStatus.FUNDRAISING, ProjectStatus.FUNDED, ProjectStatus.REPAYING)


@dataclass(frozen=True)
class Balances:
    available: int = 0
    committed: int = 0
    outstanding: int = 0


@dataclass(frozen=True)
class Impact:
    loans: int = 0
    active_loans: int = 0
    entrepreneurs: int = 0
    women: int = 0
    countries: int = 0
    sectors: int = 0
    relends: int = 0
    lent: int = 0
    repaid: int = 0
    # Projects the lender pledged to that closed unfunded: what they pledged came back.
    refunded_loans: int = 0


@dataclass(frozen=True)
class Loan:
    project_id: int
    reference: str
    borrower: str
    country: str
    sector: str
    status: ProjectStatus
    lent: int  # by this lender; zero once refunded
    pledged: int  # by this lender, refunded or not
    repaid: int  # to this lender
    project_amount: int
    project_funded: int
    project_repaid: int
    next_due: Instalment | None
    # This lender's part of what is owed of ``next_due``, by the rule that will share it.
    next_share: int | None
    last_pledged_at: datetime

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def refunded(self) -> bool:
        """The project closed unfunded and what this lender pledged came back as credit."""
        return self.lent == 0


@dataclass(frozen=True)
class Portfolio:
    balances: Balances
    impact: Impact
    loans: tuple[Loan, ...]  # the newest first, at most the limit asked for

    @property
    def listed_loans(self) -> int:
        """Every project the lender pledged to, as the list counts them: refunded ones too."""
        return self.impact.loans + self.impact.refunded_loans

    @property
    def hidden_loans(self) -> int:
        return self.listed_loans - len(self.loans)


@dataclass(frozen=True)
class CompanyTotals:
    projects: int
    lent: int


def balances(session: Session, lender: LenderRef) -> Balances:
    lender_id = known_lender_id(session, lender)
    if lender_id is None:
        return Balances()
    rows = session.execute(
        select(Account.kind, Account.balance).where(Account.lender_id == lender_id)
    ).all()
    by_kind = {kind: balance for kind, balance in rows}
    return Balances(
        available=by_kind.get(AccountKind.AVAILABLE, 0),
        committed=by_kind.get(AccountKind.COMMITTED, 0),
        outstanding=by_kind.get(AccountKind.OUTSTANDING, 0),
    )


def _lent_by(lender_id: int) -> Subquery:
    """Per project, what this lender put in (refunded pledges count as nothing lent)."""
    live = case((Pledge.refunded.is_(False), Pledge.amount), else_=0)
    relend = case((Pledge.is_relend.is_(True), 1), else_=0)
    return (
        select(
            Pledge.project_id.label("project_id"),
            func.sum(live).label("lent"),
            func.sum(Pledge.amount).label("pledged"),
            func.sum(Pledge.repaid).label("repaid"),
            func.sum(relend).label("relends"),
            func.max(Pledge.created_at).label("last_at"),
            func.max(Pledge.id).label("last_id"),
        )
        .where(Pledge.lender_id == lender_id)
        .group_by(Pledge.project_id)
        .subquery()
    )


def lender_portfolio(session: Session, lender: LenderRef, *, limit: int = 20) -> Portfolio:
    """Balances, impact totals and the newest `limit` loans, with the lender's share of each
    one's next instalment: four statements."""
    lender_id = known_lender_id(session, lender)
    if lender_id is None:
        return Portfolio(Balances(), Impact(), ())
    lent = _lent_by(lender_id)
    counted = lent.c.lent > 0
    totals = session.execute(
        select(
            func.count().filter(counted),
            func.count().filter(counted, Project.status.in_(ACTIVE_STATUSES)),
            func.coalesce(func.sum(Project.borrower_count).filter(counted), 0),
            func.coalesce(func.sum(Project.women_count).filter(counted), 0),
            func.count(distinct(Project.country)).filter(counted),
            func.count(distinct(Project.sector)).filter(counted),
            func.coalesce(func.sum(lent.c.relends), 0),
            func.coalesce(func.sum(lent.c.lent), 0),
            func.coalesce(func.sum(lent.c.repaid), 0),
            func.count().filter(lent.c.lent == 0),
        ).join(Project, Project.id == lent.c.project_id)
    ).one()
    rows = session.execute(
        select(Project, lent.c.lent, lent.c.pledged, lent.c.repaid, lent.c.last_at)
        .join(lent, lent.c.project_id == Project.id)
        .order_by(lent.c.last_at.desc(), lent.c.last_id.desc())
        .limit(limit)
    ).all()
    due = {project.id: next_expected(project) for project, *_ in rows}
    shares = next_shares(session, lender_id, {p: i.owed for p, i in due.items() if i})
    return Portfolio(
        balances=balances(session, lender_id),
        impact=Impact(*(int(value) for value in totals)),
        loans=tuple(
            _loan(project, _Mine(int(mine), int(pledged), int(back), at), due[project.id], shares)
            for project, mine, pledged, back, at in rows
        ),
    )


def next_shares(session: Session, lender_id: int, owed: dict[int, int]) -> dict[int, int]:
    """Per project, the lender's share of the ``owed`` instalment if it came now: the sharing
    rule a repayment round applies, on the project's pledges as they stand (one statement)."""
    if not owed:
        return {}
    rows = session.execute(
        select(Pledge.project_id, Pledge.id, Pledge.lender_id, Pledge.amount, Pledge.repaid)
        .where(Pledge.project_id.in_(owed), Pledge.refunded.is_(False))
        .order_by(Pledge.project_id, Pledge.id)
    ).all()
    pledges: dict[int, list[tuple[PledgeState, bool]]] = {}
    for project_id, pledge_id, owner, amount, repaid in rows:
        state = PledgeState(pledge_id, amount, repaid)
        pledges.setdefault(project_id, []).append((state, owner == lender_id))
    return {
        project_id: _own_share(owed[project_id], states)
        for project_id, states in pledges.items()
        if any(mine for _state, mine in states)
    }


def _own_share(instalment: int, pledges: list[tuple[PledgeState, bool]]) -> int:
    states = [state for state, _mine in pledges]
    shares = apportion(
        instalment,
        states,
        loan_total=sum(state.amount for state in states),
        repaid_before=sum(state.repaid for state in states),
    )
    return sum(share for share, (_state, mine) in zip(shares, pledges, strict=True) if mine)


@dataclass(frozen=True)
class _Mine:
    """What one lender put into one project, and what came back."""

    lent: int
    pledged: int
    repaid: int
    last_at: datetime


def _loan(
    project: Project, mine: _Mine, next_due: Instalment | None, shares: dict[int, int]
) -> Loan:
    return Loan(
        project_id=project.id,
        reference=project.reference,
        borrower=project.borrower,
        country=project.country,
        sector=project.sector,
        status=project.status,
        lent=mine.lent,
        pledged=mine.pledged,
        repaid=mine.repaid,
        project_amount=project.amount,
        project_funded=project.funded,
        project_repaid=project.repaid,
        next_due=next_due,
        next_share=shares.get(project.id),
        last_pledged_at=mine.last_at,
    )


def company_totals(session: Session) -> CompanyTotals:
    """Everyone's lending together: read from the projects, never by scanning every pledge."""
    projects, lent = session.execute(
        select(func.count(), func.coalesce(func.sum(Project.funded), 0)).where(
            Project.funded > 0, Project.status != ProjectStatus.EXPIRED
        )
    ).one()
    return CompanyTotals(projects=projects, lent=int(lent))


@dataclass(frozen=True)
class CircleChoice:
    id: int
    name: str
    channel_id: str


def lender_circles(
    session: Session, lender: LenderRef, limit: int = 25
) -> tuple[CircleChoice, ...]:
    """The circles a lender belongs to, by name: what a pledge may count for."""
    lender_id = known_lender_id(session, lender)
    if lender_id is None:
        return ()
    rows = session.execute(
        select(Circle.id, Circle.name, Circle.channel_id)
        .join(CircleMember, CircleMember.circle_id == Circle.id)
        .where(CircleMember.lender_id == lender_id)
        .order_by(Circle.name, Circle.id)
        .limit(limit)
    ).all()
    return tuple(CircleChoice(*row) for row in rows)
