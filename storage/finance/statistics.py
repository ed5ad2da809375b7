"""The operators' view of the programme: its totals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.circles.models import Circle
from storage.db.clock import utcnow
from storage.ledger.models import Account, AccountKind
from storage.lending.models import Pledge
from storage.projects.models import Project, ProjectStatus


@dataclass(frozen=True)
class ProgrammeStats:
    lenders: int
    lent: int
    outstanding: int
    repaid: int
    lost: int
    open_projects: int
    circles: int


def programme_stats(
    factory: sessionmaker[Session], *, now: datetime | None = None
) -> ProgrammeStats:
    """Totals across the deployment, a handful of aggregate queries whatever its size."""
    moment = now or utcnow()
    with factory() as session:
        repaid, lost = session.execute(
            select(
                func.coalesce(func.sum(Project.repaid), 0), func.coalesce(func.sum(Project.lost), 0)
            )
        ).one()
        return ProgrammeStats(
            # People who have lent, not everyone who ever opened the app.
            lenders=_scalar(session, select(func.count(Pledge.lender_id.distinct()))),
            lent=_scalar(
                session,
                select(func.coalesce(func.sum(Pledge.amount), 0)).where(Pledge.refunded.is_(False)),
            ),
            outstanding=_scalar(
                session,
                select(func.coalesce(func.sum(Account.balance), 0)).where(
                    Account.kind == AccountKind.OUTSTANDING
                ),
            ),
            repaid=int(repaid),
            lost=int(lost),
            open_projects=_scalar(
                session,
                select(func.count()).where(
                    Project.status == ProjectStatus.FUNDRAISING, Project.deadline > moment
                ),
            ),
            circles=_scalar(session, select(func.count()).select_from(Circle)),
        )


def _scalar(session: Session, query: Select[Any]) -> int:
    return int(session.execute(query).scalar_one())
