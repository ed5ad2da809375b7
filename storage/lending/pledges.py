"""Pledging to a project, and the funding that the last pledge triggers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.circles.models import Circle, CircleMember
from storage.db.clock import utcnow
from storage.db.engine import rowcount
from storage.db.unit_of_work import Outcome, Refusal, Refused, Retry, run
from storage.ledger.accounts import lender_accounts
from storage.ledger.models import AccountKind
from storage.ledger.money import format_money
from storage.ledger.postings import Leg, move_pledges, post, post_rows
from storage.lending.lenders import (
    LenderRef,
    known_lender_id,
    lender_id_of,
    lender_param,
    refuse_a_leaver,
)
from storage.lending.models import LenderMonth, Pledge
from storage.lending.portfolio import balances
from storage.lending.rules import LendingRules
from storage.notifications import outbox
from storage.notifications.kinds import Kind
from storage.projects.models import Project, ProjectStatus


@dataclass(frozen=True)
class PledgeRequest:
    lender: LenderRef
    project_id: int
    amount: int
    circle_id: int | None = None
    # Re-lending and auto-lending spend only credit that is already there.
    credit_only: bool = False
    # Placed by the lender's auto-relend preference: they are told it was made.
    automatic: bool = False


@dataclass(frozen=True)
class PledgePlan:
    """What a pledge would do to the money, decided by the rules the pledge itself applies."""

    project_id: int
    project_reference: str
    amount: int
    available: int
    from_credit: int
    from_payroll: int
    # What the project still needs after this pledge.
    still_needed: int
    circle_id: int | None
    circle_name: str | None = None


@dataclass(frozen=True)
class PledgeResult:
    pledge_id: int
    project_id: int
    project_reference: str
    amount: int
    from_credit: int
    from_payroll: int
    still_needed: int
    funded_project: bool
    circle_id: int | None
    circle_name: str | None = None


def pledge(
    factory: sessionmaker[Session],
    request: PledgeRequest,
    rules: LendingRules,
    *,
    key: str | None,
    now: datetime | None = None,
) -> Outcome[PledgeResult]:
    """Lend ``amount`` to a project: from available credit first, the rest as payroll money.

    Without ``now`` the clock is read in each attempt: a retry after the deadline must see it.
    """
    return run(
        factory,
        "pledge",
        key,
        _params(request),
        lambda session: _pledge(session, request, rules, now or utcnow(), key),
        PledgeResult,
    )


def _params(request: PledgeRequest) -> dict[str, object]:
    return {
        "lender": lender_param(request.lender),
        "project": request.project_id,
        "amount": request.amount,
        "circle": request.circle_id,
        "credit_only": request.credit_only,
        "automatic": request.automatic,
    }


def plan_pledge(
    session: Session, request: PledgeRequest, rules: LendingRules, now: datetime
) -> PledgePlan:
    """Every rule a pledge must pass, read-only: the preview shows what the pledge will do, or
    refuses exactly as the pledge would (the pledge re-checks what a race could change)."""
    project = session.get(Project, request.project_id)
    if project is None:
        raise Refused("unknown_project", "There is no such project.")
    _check_amount(project, request.amount, rules, now)
    lender_id = known_lender_id(session, request.lender)
    refuse_a_leaver(
        session,
        lender_id,
        "Your Slack account is marked as deactivated, so microlend takes no new money in your "
        "name. Nothing was lent.",
    )
    circle_name = None
    if request.circle_id is not None:
        _check_member(session, request.circle_id, lender_id)
        circle_name = session.get_one(Circle, request.circle_id).name
    available = balances(session, lender_id).available if lender_id is not None else 0
    from_credit, from_payroll = split_payment(available, request.amount)
    if from_payroll and request.credit_only:
        raise Refused(
            "insufficient_credit",
            f"You have {format_money(available, rules.currency)} of credit; "
            f"re-lending {format_money(request.amount, rules.currency)} needs more.",
        )
    if from_payroll:
        used = 0 if lender_id is None else _new_money_used(session, lender_id, now)
        if used + from_payroll > rules.monthly_cap:
            raise _over_monthly_cap(from_payroll, used, rules)
    return PledgePlan(
        project_id=project.id,
        project_reference=project.reference,
        amount=request.amount,
        available=available,
        from_credit=from_credit,
        from_payroll=from_payroll,
        still_needed=project.amount - project.funded - request.amount,
        circle_id=request.circle_id,
        circle_name=circle_name,
    )


def _pledge(
    session: Session, request: PledgeRequest, rules: LendingRules, now: datetime, key: str | None
) -> PledgeResult:
    lender_id = lender_id_of(session, request.lender, now=now)
    plan = plan_pledge(session, replace(request, lender=lender_id), rules, now)
    if plan.from_payroll:
        _take_new_money(session, lender_id, plan.from_payroll, rules, now)
    project = session.get_one(Project, request.project_id)
    left = _add_funding(session, project, request.amount, rules)
    pledge_id = _insert_pledge(session, lender_id, request, plan, now)
    accounts = lender_accounts(session, lender_id)
    post(
        session,
        "pledge",
        [
            Leg(accounts.available, -plan.from_credit, pledge_id),
            Leg(accounts.payroll, -plan.from_payroll, pledge_id),
            Leg(accounts.committed, request.amount, pledge_id),
        ],
        now=now,
        operation_key=key,
    )
    if request.circle_id is not None:
        # Before the funding: the channel reads the pledge, then that it filled the project.
        _announce_circle_pledge(session, request.circle_id, pledge_id, project.id, now)
    if left == 0:
        fund_project(session, project.id, now)
    if request.automatic:
        outbox.enqueue(
            session,
            dedupe_key=f"autolend:{pledge_id}",
            kind=Kind.AUTOLEND,
            payload={"pledge_id": pledge_id},
            now=now,
            lender_id=lender_id,
            project_id=project.id,
        )
    return PledgeResult(
        pledge_id=pledge_id,
        project_id=project.id,
        project_reference=project.reference,
        amount=request.amount,
        from_credit=plan.from_credit,
        from_payroll=plan.from_payroll,
        still_needed=left,
        funded_project=left == 0,
        circle_id=request.circle_id,
        circle_name=plan.circle_name,
    )


def _announce_circle_pledge(
    session: Session, circle_id: int, pledge_id: int, project_id: int, now: datetime
) -> None:
    circle = session.get(Circle, circle_id)
    if circle is None:
        return
    outbox.enqueue(
        session,
        dedupe_key=f"circle_pledge:{pledge_id}",
        kind=Kind.CIRCLE_PLEDGE,
        payload={"pledge_id": pledge_id},
        now=now,
        channel_id=circle.channel_id,
        workspace_id=circle.workspace_id,
        project_id=project_id,
        circle_id=circle_id,
    )


def _check_amount(project: Project, amount: int, rules: LendingRules, now: datetime) -> None:
    if project.status != ProjectStatus.FUNDRAISING or project.deadline <= now:
        raise Refused(
            "project_closed",
            f"{project.reference} is no longer raising money ({project.status.value}).",
        )
    refusal = amount_refusal(project.reference, amount, project.amount - project.funded, rules)
    if refusal is not None:
        raise Refused(refusal.code, refusal.message)


def amount_refusal(
    reference: str, amount: int, still_needed: int, rules: LendingRules
) -> Refusal | None:
    """Why ``amount`` cannot be pledged to a project that still needs ``still_needed``:
    at least the minimum, unless it is exactly what is left; never more than is left."""
    money = partial(format_money, currency=rules.currency)
    if amount <= 0:
        return Refusal("amount_not_positive", "Enter a positive amount.")
    if amount > still_needed:
        return Refusal(
            "over_needed",
            f"{reference} needs only {money(still_needed)} more; "
            f"pledge at most {money(still_needed)}.",
        )
    if amount < rules.min_pledge and amount != still_needed:
        return Refusal(
            "below_minimum",
            f"The smallest pledge is {money(rules.min_pledge)} "
            f"(or exactly the {money(still_needed)} that {reference} still needs).",
        )
    return None


def split_payment(available: int, amount: int) -> tuple[int, int]:
    """How a pledge is paid: available credit first, the rest as new money through payroll."""
    from_credit = min(available, amount)
    return from_credit, amount - from_credit


def _check_member(session: Session, circle_id: int, lender_id: int | None) -> None:
    member = None if lender_id is None else session.get(CircleMember, (circle_id, lender_id))
    if member is None:
        raise Refused(
            "not_a_member", "You can only lend for a circle you belong to; join it first."
        )


def _take_new_money(
    session: Session, lender_id: int, amount: int, rules: LendingRules, now: datetime
) -> None:
    """Count new money against the monthly cap, race-safe by a conditional UPDATE."""
    month = now.strftime("%Y-%m")
    if session.get(LenderMonth, (lender_id, month)) is None:
        session.add(LenderMonth(lender_id=lender_id, month=month, new_money=0))
        session.flush()
    done = session.execute(
        update(LenderMonth)
        .where(
            LenderMonth.lender_id == lender_id,
            LenderMonth.month == month,
            LenderMonth.new_money + amount <= rules.monthly_cap,
        )
        .values(new_money=LenderMonth.new_money + amount)
    )
    if rowcount(done) != 1:
        raise _over_monthly_cap(amount, _new_money_used(session, lender_id, now), rules)


def _new_money_used(session: Session, lender_id: int, now: datetime) -> int:
    used = session.execute(
        select(LenderMonth.new_money).where(
            LenderMonth.lender_id == lender_id, LenderMonth.month == now.strftime("%Y-%m")
        )
    ).scalar_one_or_none()
    return used or 0


def _over_monthly_cap(amount: int, used: int, rules: LendingRules) -> Refused:
    left = max(rules.monthly_cap - used, 0)
    return Refused(
        "monthly_cap",
        f"That needs {format_money(amount, rules.currency)} of new money, but you can pledge "
        f"only {format_money(left, rules.currency)} more this month "
        f"(the monthly limit is {format_money(rules.monthly_cap, rules.currency)}).",
    )


def _add_funding(session: Session, project: Project, amount: int, rules: LendingRules) -> int:
    """The last-20-EUR race, decided by the WHERE clause (PostgreSQL re-checks it after a
    concurrent commit); returns what the project still needs after this pledge."""
    funded = session.execute(
        update(Project)
        .where(
            Project.id == project.id,
            Project.status == ProjectStatus.FUNDRAISING,
            Project.funded + amount <= Project.amount,
        )
        .values(funded=Project.funded + amount)
        .returning(Project.funded)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if funded is not None:
        return project.amount - funded
    session.refresh(project)
    still_needed = project.amount - project.funded
    if project.status == ProjectStatus.FUNDED or still_needed == 0:
        raise Refused(
            "project_closed", f"{project.reference} was just fully funded by other lenders."
        )
    if project.status != ProjectStatus.FUNDRAISING:
        raise Refused(
            "project_closed",
            f"{project.reference} is no longer raising money ({project.status.value}).",
        )
    if amount < rules.min_pledge and amount != still_needed:
        raise Retry()
    raise Refused(
        "over_needed",
        f"Others lent first: {project.reference} now needs only "
        f"{format_money(still_needed, rules.currency)} more.",
    )


def _insert_pledge(
    session: Session, lender_id: int, request: PledgeRequest, plan: PledgePlan, now: datetime
) -> int:
    already_repaid = session.execute(
        select(func.count()).where(Pledge.lender_id == lender_id, Pledge.repaid > 0)
    ).scalar_one()
    return session.execute(
        insert(Pledge)
        .values(
            lender_id=lender_id,
            project_id=request.project_id,
            circle_id=request.circle_id,
            amount=request.amount,
            from_credit=plan.from_credit,
            from_payroll=plan.from_payroll,
            repaid=0,
            is_relend=plan.from_credit > 0 and already_repaid > 0,
            refunded=False,
            created_at=now,
        )
        .returning(Pledge.id)
    ).scalar_one()


def fund_project(session: Session, project_id: int, now: datetime) -> None:
    """The project is full: its lenders' committed money becomes outstanding, in one pass."""
    session.execute(
        update(Project)
        .where(Project.id == project_id)
        .values(status=ProjectStatus.FUNDED, funded_at=now)
        .execution_options(synchronize_session=False)
    )
    post_rows(
        session,
        "fund",
        move_pledges(
            Pledge.project_id == project_id,
            Pledge.amount,
            AccountKind.COMMITTED,
            AccountKind.OUTSTANDING,
        ),
        now=now,
    )
    outbox.announce_to_lenders_and_circles(
        session, Kind.FUNDED, select(Project.id).where(Project.id == project_id), now
    )
