"""Closing projects: expiry of those that did not fill in time, and defaults of lent ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal, select, union_all, update
from sqlalchemy.orm import Session, sessionmaker

from storage.circles.models import Circle
from storage.db.clock import utcnow
from storage.db.engine import rowcount
from storage.db.proposals import Proposal, propose, require_proposed
from storage.db.unit_of_work import Outcome, Refused, run
from storage.ledger.accounts import system_account
from storage.ledger.models import Account, AccountKind
from storage.ledger.postings import move_pledges, post_rows
from storage.lending.models import Pledge
from storage.lending.rules import LeaverCredit, LendingRules
from storage.notifications import outbox
from storage.notifications.kinds import Kind
from storage.notifications.outbox import TickResult
from storage.people.leavers import sweep_leaver_credit
from storage.projects.models import LENT_STATUSES, Project, ProjectStatus
from storage.projects.schedule import is_delinquent


@dataclass(frozen=True)
class ExpiryResult:
    expired_projects: int
    refunded_pledges: int


@dataclass(frozen=True)
class DefaultResult:
    project_id: int
    lost: int
    lenders: int


@dataclass(frozen=True)
class DefaultPlan:
    """What a default would do: ``lost`` written off, shared by ``lenders``, who are told, as
    are the ``circles`` that lent to the project."""

    project_id: int
    project_reference: str
    lost: int
    lenders: int
    circles: int


# Projects claimed by one expiry transaction: the refunds of a chunk stay one statement each,
# and a transaction stays short however many projects are due.
EXPIRY_CHUNK = 1_000


def expire_due_projects(
    factory: sessionmaker[Session],
    *,
    now: datetime | None = None,
    leaver_credit: LeaverCredit = LeaverCredit.PAYOUT,
) -> ExpiryResult:
    """Close every project whose deadline passed unfilled; each pledge returns to credit.

    Chunk by chunk, each in one transaction that first claims its projects (marks them
    expired in one conditional UPDATE) and only then refunds their pledges. A second runner
    finds the claimed projects no longer fundraising; a pledge either landed before the claim
    (it is refunded with the others) or comes after it and is refused, as its own conditional
    UPDATE finds the project closed. On PostgreSQL the claim skips rows other transactions
    hold, so two runners share the work instead of waiting, and a project whose pledge is in
    flight expires at the next run.
    """
    moment = now or utcnow()
    expired = refunded = 0
    while True:
        chunk = run(
            factory,
            "expire",
            None,
            {},
            lambda s: _expire_chunk(s, moment, leaver_credit),
            ExpiryResult,
        ).value()
        expired += chunk.expired_projects
        refunded += chunk.refunded_pledges
        if chunk.expired_projects < EXPIRY_CHUNK:
            return ExpiryResult(expired, refunded)


def _expire_chunk(session: Session, now: datetime, leaver_credit: LeaverCredit) -> ExpiryResult:
    fundraising = Project.status == ProjectStatus.FUNDRAISING
    due = (
        select(Project.id)
        .where(fundraising, Project.deadline <= now)
        .order_by(Project.id)
        .limit(EXPIRY_CHUNK)
        .with_for_update(skip_locked=True)
    )
    claimed = list(
        session.execute(
            update(Project)
            .where(Project.id.in_(due.scalar_subquery()), fundraising, Project.deadline <= now)
            .values(status=ProjectStatus.EXPIRED, closed_at=now)
            .returning(Project.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    if not claimed:
        return ExpiryResult(0, 0)
    chosen = Pledge.project_id.in_(claimed)
    post_rows(
        session,
        "expire",
        move_pledges(chosen, Pledge.amount, AccountKind.COMMITTED, AccountKind.AVAILABLE),
        now=now,
    )
    refunded = rowcount(
        session.execute(
            update(Pledge)
            .where(chosen, Pledge.refunded.is_(False))
            .values(refunded=True)
            .execution_options(synchronize_session=False)
        )
    )
    outbox.announce_to_lenders_and_circles(
        session, Kind.EXPIRED, select(Project.id).where(Project.id.in_(claimed)), now
    )
    # A refund to someone who left goes on to them (or the grant pool), as a repayment does.
    sweep_leaver_credit(session, leaver_credit, now=now)
    return ExpiryResult(len(claimed), refunded)


def plan_default(session: Session, project_id: int) -> DefaultPlan:
    """What defaulting the project would write off and whom it would tell, or why it cannot."""
    # Locked: a repayment recorded meanwhile would change what is left to lose.
    project = session.get(Project, project_id, with_for_update=True)
    if project is None:
        raise Refused("unknown_project", "There is no such project.")
    if project.status not in LENT_STATUSES:
        raise Refused(
            "not_lent",
            f"{project.reference} is {project.status.value}; only a funded loan can default.",
        )
    chosen = Pledge.project_id == project_id
    lenders, circles = session.execute(
        select(func.count(Pledge.lender_id.distinct()), func.count(Circle.id.distinct()))
        .select_from(Pledge)
        .outerjoin(Circle, Circle.id == Pledge.circle_id)
        .where(chosen)
    ).one()
    return DefaultPlan(
        project_id=project_id,
        project_reference=project.reference,
        lost=project.funded - project.repaid - project.lost,
        lenders=lenders,
        circles=circles,
    )


def propose_default(
    factory: sessionmaker[Session], proposal: Proposal, project_id: int, *, reason: str
) -> Outcome[DefaultPlan]:
    """The default's plan, kept for the Confirm of ``proposal`` (see ``storage.db.proposals``)."""
    params = _default_params(project_id, reason)
    return propose(
        factory, proposal, "default", params, lambda s: plan_default(s, project_id), DefaultPlan
    )


def _default_params(project_id: int, reason: str) -> dict[str, object]:
    return {"project": project_id, "reason": reason}


def default_project(
    factory: sessionmaker[Session],
    project_id: int,
    *,
    reason: str,
    key: str,
    now: datetime | None = None,
    proposal: Proposal | None = None,
) -> Outcome[DefaultResult]:
    """The partner cannot collect the rest: what is outstanding moves to losses; with
    ``proposal``, only if it is still what that proposal showed."""
    moment = now or utcnow()
    params = _default_params(project_id, reason)

    def body(session: Session) -> DefaultResult:
        plan = plan_default(session, project_id)
        if proposal is not None:
            require_proposed(session, proposal, "default", params, plan)
        lost = plan.lost
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
        outbox.announce_to_lenders_and_circles(
            session, Kind.DEFAULTED, select(Project.id).where(Project.id == project_id), moment
        )
        return DefaultResult(project_id, lost, plan.lenders)

    return run(factory, "default", key, params, body, DefaultResult)


def flag_delinquent(
    factory: sessionmaker[Session], rules: LendingRules, *, now: datetime
) -> TickResult:
    """Mark loans behind schedule and tell their lenders once per episode of lateness.

    The schedule rule lives in ``storage.projects.schedule.is_delinquent``; it is applied to the
    lent projects not yet flagged, streamed, and the flagging itself is one UPDATE.
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
            kind=Kind.DELINQUENT,
            targets=outbox.lender_targets(
                f"delinquent:{today.isoformat()}", select(Project.id).where(Project.id.in_(late))
            ),
            payload={},
            now=now,
        )
        return TickResult(len(late), queued)
