"""The operators' view of the programme: its totals, and impact updates for a project's lenders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, insert, literal, select
from sqlalchemy.orm import Session, sessionmaker

from storage import outbox
from storage.models import (
    Account,
    AccountKind,
    Circle,
    ImpactUpdate,
    Lender,
    Pledge,
    Project,
    ProjectStatus,
)
from storage.operations import Outcome, Refused, run, utcnow

UPDATE_TEXT_LIMIT = 2_000


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
            lenders=_scalar(session, select(func.count()).select_from(Lender)),
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


@dataclass(frozen=True)
class ImpactResult:
    update_id: int
    project_id: int
    project_reference: str
    lenders_notified: int


def post_impact_update(
    factory: sessionmaker[Session],
    project_id: int,
    text: str,
    *,
    photo_url: str | None,
    posted_by: str,
    now: datetime | None = None,
) -> Outcome[ImpactResult]:
    """Store an update about a project and queue one message per lender, in one transaction."""
    moment = now or utcnow()

    def body(session: Session) -> ImpactResult:
        project = session.get(Project, project_id)
        if project is None:
            raise Refused("unknown_project", "There is no such project.")
        cleaned = text.strip()
        if not cleaned:
            raise Refused("empty_update", "Write what happened: `/lend admin update REF TEXT`.")
        if len(cleaned) > UPDATE_TEXT_LIMIT:
            raise Refused(
                "update_too_long", f"An update can be at most {UPDATE_TEXT_LIMIT:,} characters."
            )
        update_id = session.execute(
            insert(ImpactUpdate)
            .values(
                project_id=project_id,
                text=cleaned,
                photo_url=photo_url,
                posted_by=posted_by,
                created_at=moment,
            )
            .returning(ImpactUpdate.id)
        ).scalar_one()
        targets = _impact_targets(update_id, project_id)
        outbox.enqueue_select(
            session,
            kind="impact",
            targets=targets,
            payload={"impact_update_id": update_id},
            now=moment,
        )
        # Counted apart: psycopg reports no rowcount for INSERT ... SELECT ... ON CONFLICT.
        notified = _scalar(session, select(func.count()).select_from(targets.subquery()))
        return ImpactResult(update_id, project_id, project.reference, notified)

    return run(factory, "impact_update", None, {}, body, ImpactResult)


def _impact_targets(update_id: int, project_id: int) -> Select[Any]:
    return (
        select(
            outbox.key("impact", literal(update_id), Pledge.lender_id).label("dedupe_key"),
            Lender.workspace_id.label("workspace_id"),
            Pledge.lender_id.label("lender_id"),
            outbox.no_text().label("channel_id"),
            Pledge.project_id.label("project_id"),
            outbox.no_id().label("circle_id"),
        )
        .join(Lender, Lender.id == Pledge.lender_id)
        .where(Pledge.project_id == project_id, Pledge.refunded.is_(False))
        .distinct()
    )
