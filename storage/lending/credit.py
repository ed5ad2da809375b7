"""A lender's available credit: company grants in, withdrawals out as payout requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.proposals import Proposal, propose, require_proposed
from storage.db.unit_of_work import Outcome, Refused, run
from storage.ledger.accounts import lender_accounts, lender_balance, system_account
from storage.ledger.models import AccountKind
from storage.ledger.money import format_money
from storage.ledger.postings import Leg, post
from storage.lending.lenders import LenderRef, lender_id_of, lender_param, refuse_a_leaver
from storage.lending.models import PayoutRequest
from storage.lending.portfolio import balances
from storage.notifications import outbox
from storage.notifications.kinds import Kind


@dataclass(frozen=True)
class GrantResult:
    lender_id: int
    amount: int
    available: int


@dataclass(frozen=True)
class GrantPlan:
    """What a grant would do, for its confirmation: the lender is told by DM."""

    amount: int


@dataclass(frozen=True)
class WithdrawResult:
    lender_id: int
    payout_request_id: int
    amount: int
    available: int


def plan_grant(amount: int) -> GrantPlan:
    if amount <= 0:
        raise Refused("amount_not_positive", "A grant must be a positive amount.")
    return GrantPlan(amount)


def _grant_params(lender: LenderRef, amount: int, reason: str) -> dict[str, object]:
    return {"lender": lender_param(lender), "amount": amount, "reason": reason}


def propose_grant(
    factory: sessionmaker[Session],
    proposal: Proposal,
    lender: LenderRef,
    amount: int,
    *,
    reason: str,
) -> Outcome[GrantPlan]:
    """The grant's plan, kept for the Confirm of ``proposal`` (see ``storage.db.proposals``)."""
    params = _grant_params(lender, amount, reason)
    return propose(factory, proposal, "grant", params, lambda _s: plan_grant(amount), GrantPlan)


def grant_credit(
    factory: sessionmaker[Session],
    lender: LenderRef,
    amount: int,
    *,
    key: str,
    reason: str,
    now: datetime | None = None,
    proposal: Proposal | None = None,
) -> Outcome[GrantResult]:
    """Company money (welcome credit, matching) added to a lender's available credit; with
    ``proposal``, only the grant that proposal showed."""
    moment = now or utcnow()
    params = _grant_params(lender, amount, reason)

    def body(session: Session) -> GrantResult:
        plan = plan_grant(amount)
        if proposal is not None:
            require_proposed(session, proposal, "grant", params, plan)
        lender_id = lender_id_of(session, lender, now=moment)
        refuse_a_leaver(
            session,
            lender_id,
            "This person has left the company (their Slack account is deactivated): "
            "nothing was granted.",
        )
        accounts = lender_accounts(session, lender_id)
        grants = system_account(session, AccountKind.GRANTS)
        post(
            session,
            "grant",
            [Leg(grants, -amount), Leg(accounts.available, amount)],
            now=moment,
            operation_key=key,
        )
        # The lender hears of it in their working hours, with their other news.
        outbox.enqueue(
            session,
            dedupe_key=f"grant:{key}",
            kind=Kind.GRANT,
            payload={"amount": amount},
            now=moment,
            lender_id=lender_id,
        )
        available = lender_balance(session, lender_id, AccountKind.AVAILABLE)
        return GrantResult(lender_id=lender_id, amount=amount, available=available)

    return run(factory, "grant", key, params, body, GrantResult)


@dataclass(frozen=True)
class WithdrawalPlan:
    """What a withdrawal would take out, decided by the rules the withdrawal itself applies."""

    amount: int
    available: int

    @property
    def left(self) -> int:
        return self.available - self.amount


def plan_withdrawal(
    session: Session, lender: LenderRef, amount: int | None, *, currency: str
) -> WithdrawalPlan:
    """How much would be withdrawn (all of it when ``amount`` is None), or why not."""
    available = balances(session, lender).available
    wanted = available if amount is None else amount
    if wanted <= 0:
        raise Refused("nothing_to_withdraw", "You have no available credit to withdraw.")
    if wanted > available:
        raise Refused(
            "insufficient_credit",
            f"You can withdraw at most {format_money(available, currency)}, your available credit.",
        )
    return WithdrawalPlan(wanted, available)


def withdraw(
    factory: sessionmaker[Session],
    lender: LenderRef,
    amount: int | None,
    *,
    key: str,
    currency: str = "EUR",
    now: datetime | None = None,
) -> Outcome[WithdrawResult]:
    """Take available credit out (all of it when ``amount`` is None) as a payout request."""
    moment = now or utcnow()

    def body(session: Session) -> WithdrawResult:
        lender_id = lender_id_of(session, lender, now=moment)
        plan = plan_withdrawal(session, lender_id, amount, currency=currency)
        wanted, available = plan.amount, plan.available
        accounts = lender_accounts(session, lender_id)
        payouts = system_account(session, AccountKind.PAYOUTS)
        request_id = session.execute(
            insert(PayoutRequest)
            .values(lender_id=lender_id, amount=wanted, created_at=moment)
            .returning(PayoutRequest.id)
        ).scalar_one()
        post(
            session,
            "withdraw",
            [Leg(accounts.available, -wanted), Leg(payouts, wanted)],
            now=moment,
            operation_key=key,
        )
        return WithdrawResult(lender_id, request_id, wanted, available - wanted)

    params = {"lender": lender_param(lender), "amount": amount}
    return run(factory, "withdraw", key, params, body, WithdrawResult)
