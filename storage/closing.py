"""Closing projects: expiry of those that did not fill in time, and defaults of lent ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal, select, union_all, update
from sqlalchemy.orm import Session, sessionmaker

from storage import outbox
from storage.ledger import move_pledges, post_rows, system_account
from storage.models import Account, AccountKind, Pledge, Project, ProjectStatus
from storage.operations import Outcome, Refused, run, utcnow
from storage.projects import LENT_STATUSES


@dataclass(frozen=True)
class ExpiryResult:
    expired_projects: int
    refunded_pledges: int


@dataclass(frozen=True)
class DefaultResult:
    project_id: int
    lost: int
    lenders: int


def expire_due_projects(
    factory: sessionmaker[Session], *, now: datetime | None = None
) -> ExpiryResult:
    """Close every project whose deadline passed unfilled; each pledge returns to credit.

    Set-based: the refunds of all due projects are one transaction, however many there are,
    and a second run finds nothing left to do.
    """
    moment = now or utcnow()
    with factory() as session, session.begin():
        due = list(
            session.execute(
                select(Project.id).where(
                    Project.status == ProjectStatus.FUNDRAISING, Project.deadline <= moment
                )
            ).scalars()
        )
        if not due:
            return ExpiryResult(0, 0)
        chosen = Pledge.project_id.in_(due)
        refunded = session.execute(
            select(func.count()).where(chosen, Pledge.refunded.is_(False))
        ).scalar_one()
        post_rows(
            session,
            "expire",
            move_pledges(chosen, Pledge.amount, AccountKind.COMMITTED, AccountKind.AVAILABLE),
            now=moment,
        )
        session.execute(
            update(Pledge)
            .where(chosen)
            .values(refunded=True)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Project)
            .where(Project.id.in_(due))
            .values(status=ProjectStatus.EXPIRED, closed_at=moment)
            .execution_options(synchronize_session=False)
        )
        outbox.announce_to_lenders_and_circles(
            session, "expired", select(Project.id).where(Project.id.in_(due)), moment
        )
        return ExpiryResult(len(due), refunded)


def default_project(
    factory: sessionmaker[Session],
    project_id: int,
    *,
    reason: str,
    key: str,
    now: datetime | None = None,
) -> Outcome[DefaultResult]:
    """The partner cannot collect the rest: what is outstanding moves to losses."""
    moment = now or utcnow()

    def body(session: Session) -> DefaultResult:
        project = session.get(Project, project_id)
        if project is None:
            raise Refused("unknown_project", "There is no such project.")
        if project.status not in LENT_STATUSES:
            raise Refused(
                "not_lent",
                f"{project.reference} is {project.status.value}; only a funded loan can default.",
            )
        lost = project.funded - project.repaid - project.lost
        chosen = Pledge.project_id == project_id
        remaining = Pledge.amount - Pledge.repaid
        losses = system_account(session, AccountKind.LOSSES)
        loss_leg = select(
            literal(losses).label("account_id"),
            literal(lost).label("amount"),
            literal(None).label("pledge_id"),
        )
        out_of_outstanding = (
            select(Account.id, -remaining, Pledge.id)
            .select_from(Pledge)
            .join(
                Account,
                (Account.lender_id == Pledge.lender_id) & (Account.kind == AccountKind.OUTSTANDING),
            )
            .where(chosen, Pledge.refunded.is_(False), remaining > 0)
        )
        post_rows(
            session,
            "default",
            union_all(out_of_outstanding, loss_leg),
            now=moment,
            operation_key=key,
        )
        session.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(
                status=ProjectStatus.DEFAULTED,
                lost=Project.lost + lost,
                closed_at=moment,
                default_reason=reason[:2000] or None,
            )
            .execution_options(synchronize_session=False)
        )
        lenders = session.execute(
            select(func.count(Pledge.lender_id.distinct())).where(chosen)
        ).scalar_one()
        outbox.announce_to_lenders_and_circles(
            session, "defaulted", select(Project.id).where(Project.id == project_id), moment
        )
        return DefaultResult(project_id, lost, lenders)

    return run(
        factory, "default", key, {"project": project_id, "reason": reason}, body, DefaultResult
    )
