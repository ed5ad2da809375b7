"""What circles have done: each circle's totals, its weeks, and the leaderboard."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.circles.membership import CircleInfo, circle_info, find_circle, members_here
from storage.circles.models import Circle
from storage.db.clock import utcnow
from storage.db.unit_of_work import Outcome, Refused
from storage.installations.models import Workspace
from storage.ledger.models import Account, AccountKind, LedgerTransaction, Posting
from storage.lending.lenders import SlackIdentity
from storage.lending.models import Pledge
from storage.projects.models import Project

# -- what: circles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CircleWeek:
    start: date
    lent: int
    pledges: int
    projects_funded: int
    repaid: int


def circle_week_stats(session: Session, circle_ids: set[int], start: date) -> dict[int, CircleWeek]:
    """Lent, pledges, projects funded and repayments received by each circle in one week."""
    begin = datetime.combine(start, time())
    end = begin + timedelta(days=7)
    in_week = and_(Pledge.created_at >= begin, Pledge.created_at < end)
    lent = session.execute(
        select(Pledge.circle_id, func.sum(Pledge.amount), func.count())
        .where(Pledge.circle_id.in_(circle_ids), in_week)
        .group_by(Pledge.circle_id)
    ).all()
    funded = session.execute(
        select(Pledge.circle_id, func.count(Project.id.distinct()))
        .join(Project, Project.id == Pledge.project_id)
        .where(
            Pledge.circle_id.in_(circle_ids), Project.funded_at >= begin, Project.funded_at < end
        )
        .group_by(Pledge.circle_id)
    ).all()
    repaid = session.execute(
        select(Pledge.circle_id, func.sum(Posting.amount))
        .join(Posting, Posting.pledge_id == Pledge.id)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .join(Account, Account.id == Posting.account_id)
        .where(
            Pledge.circle_id.in_(circle_ids),
            LedgerTransaction.kind == "repayment",
            LedgerTransaction.created_at >= begin,
            LedgerTransaction.created_at < end,
            Account.kind == AccountKind.AVAILABLE,
        )
        .group_by(Pledge.circle_id)
    ).all()
    lent_by = {circle: (int(total), count) for circle, total, count in lent}
    funded_by = dict(funded)
    repaid_by = {circle: int(total) for circle, total in repaid}
    return {
        circle: CircleWeek(
            start=start,
            lent=lent_by.get(circle, (0, 0))[0],
            pledges=lent_by.get(circle, (0, 0))[1],
            projects_funded=funded_by.get(circle, 0),
            repaid=repaid_by.get(circle, 0),
        )
        for circle in circle_ids
    }


LEADERBOARD_SIZE = 10


@dataclass(frozen=True)
class CircleTotals:
    """What a circle's members have lent for it (refunded pledges count as nothing lent)."""

    lent: int = 0
    projects: int = 0


def circle_totals(session: Session, circle_ids: Collection[int]) -> dict[int, CircleTotals]:
    """Each circle's totals in one statement: what `/lend circle` and the Home tab show."""
    rows = session.execute(
        select(Pledge.circle_id, func.sum(Pledge.amount), func.count(Pledge.project_id.distinct()))
        .where(Pledge.circle_id.in_(set(circle_ids)), Pledge.refunded.is_(False))
        .group_by(Pledge.circle_id)
    ).all()
    found = {circle: CircleTotals(int(lent), projects) for circle, lent, projects in rows}
    return {circle: found.get(circle, CircleTotals()) for circle in circle_ids}


@dataclass(frozen=True)
class CircleStats:
    circle: CircleInfo
    members: int
    lent: int
    projects: int
    countries: tuple[str, ...]


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    circle_id: int
    name: str
    channel_id: str
    lent: int
    lenders: int


@dataclass(frozen=True)
class Leaderboard:
    month: str
    this_month: tuple[LeaderboardRow, ...]
    all_time: tuple[LeaderboardRow, ...]


def circle_stats(
    factory: sessionmaker[Session], identity: SlackIdentity, channel_id: str
) -> Outcome[CircleStats]:
    """Members, money lent, projects and countries of this channel's circle."""
    with factory() as session:
        try:
            circle = find_circle(session, identity.org_key, channel_id=channel_id, circle_id=None)
        except Refused as refused:
            return Outcome(None, refused.refusal)
        return Outcome(_stats(session, circle))


def _stats(session: Session, circle: Circle) -> CircleStats:
    members = session.execute(
        select(func.count()).select_from(members_here(circle.id).subquery())
    ).scalar_one()
    live = (Pledge.circle_id == circle.id) & Pledge.refunded.is_(False)
    totals = circle_totals(session, [circle.id])[circle.id]
    countries = session.execute(
        select(Project.country)
        .join(Pledge, Pledge.project_id == Project.id)
        .where(live)
        .group_by(Project.country)
        .order_by(Project.country)
    ).scalars()
    info = circle_info(session, circle)
    return CircleStats(info, members, totals.lent, totals.projects, tuple(countries))


def leaderboard(
    factory: sessionmaker[Session],
    org_key: str,
    *,
    now: datetime | None = None,
    top: int = LEADERBOARD_SIZE,
) -> Leaderboard:
    """The organisation's circles by money lent, this calendar month and all time."""
    moment = now or utcnow()
    month_start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with factory() as session:
        return Leaderboard(
            month=moment.strftime("%B %Y"),
            this_month=_ranking(session, org_key, top, since=month_start),
            all_time=_ranking(session, org_key, top, since=None),
        )


def _ranking(
    session: Session, org_key: str, top: int, *, since: datetime | None
) -> tuple[LeaderboardRow, ...]:
    lent = func.sum(Pledge.amount)
    query = (
        select(
            Circle.id,
            Circle.name,
            Circle.channel_id,
            lent.label("lent"),
            func.count(Pledge.lender_id.distinct()).label("lenders"),
        )
        .join(Pledge, Pledge.circle_id == Circle.id)
        .join(Workspace, Workspace.id == Circle.workspace_id)
        .where(Workspace.org_key == org_key, Pledge.refunded.is_(False))
        .group_by(Circle.id, Circle.name, Circle.channel_id)
        .order_by(lent.desc(), Circle.id)
        .limit(top)
    )
    if since is not None:
        query = query.where(Pledge.created_at >= since)
    return tuple(
        LeaderboardRow(rank, row.id, row.name, row.channel_id, int(row.lent), row.lenders)
        for rank, row in enumerate(session.execute(query), start=1)
    )
