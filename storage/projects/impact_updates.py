"""Impact updates: news of a project for its lenders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.unit_of_work import Outcome, Refused, run
from storage.lending.models import Lender, Pledge
from storage.notifications import outbox
from storage.notifications.kinds import Kind
from storage.projects.models import ImpactUpdate, Project

UPDATE_TEXT_LIMIT = 2_000


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
            kind=Kind.IMPACT,
            targets=targets,
            payload={"impact_update_id": update_id},
            now=moment,
        )
        # Counted apart: psycopg reports no rowcount for INSERT ... SELECT ... ON CONFLICT.
        notified = session.execute(
            select(func.count()).select_from(targets.subquery())
        ).scalar_one()
        return ImpactResult(update_id, project_id, project.reference, notified)

    return run(factory, "impact_update", None, {}, body, ImpactResult)


def _impact_targets(update_id: int, project_id: int) -> outbox.Targets:
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
