"""People who left the company: their money goes to them (or to the grant pool), their
circles pass on, and nobody writes to them.

Slack marks the account of someone who left ``deleted`` (https://api.slack.com/types/user);
``user_change``, a lookup or the nightly sync brings it here. Their loans keep being repaid,
so settling a leaver is not done once: every repayment round and every expiry sweeps what
reached a leaver's credit since. Someone reactivated carries on where they were: their
circles count them again and their credit stays theirs from then on.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from storage.circles.membership import pass_on_circles_of
from storage.installations.models import Workspace
from storage.ledger.accounts import system_account
from storage.ledger.models import Account, AccountKind, LedgerTransaction, Posting
from storage.ledger.postings import Leg, post
from storage.lending.models import Lender, PayoutReason, PayoutRequest
from storage.lending.rules import LeaverCredit


def settle_leavers(
    session: Session,
    org_key: str,
    user_ids: Collection[str],
    policy: LeaverCredit,
    *,
    now: datetime,
) -> int:
    """Settle the leaving of those of ``user_ids`` now stored as deactivated and not settled
    yet: their circles pass on and their credit goes out. Returns how many were settled."""
    leavers = (
        session.execute(
            select(Lender)
            .join(Workspace, Workspace.id == Lender.workspace_id)
            .where(
                Workspace.org_key == org_key,
                Lender.slack_user_id.in_(user_ids),
                Lender.deactivated.is_(True),
                Lender.left_at.is_(None),
            )
            .order_by(Lender.id)
        )
        .scalars()
        .all()
    )
    for leaver in leavers:
        leaver.left_at = now
        pass_on_circles_of(session, leaver.id, now=now)
    if leavers:
        session.flush()
        sweep_leaver_credit(session, policy, now=now)
    return len(leavers)


def sweep_leaver_credit(session: Session, policy: LeaverCredit, *, now: datetime) -> int:
    """Every leaver's available credit out, in one transaction: as payout requests marked as a
    leaver's, or into the programme's grant pool. Returns the amount swept. Cheap when there
    is nothing to sweep (a partial index holds only leavers), so every round can call it."""
    credit = session.execute(
        select(Account.lender_id, Account.id, Account.balance)
        .join(Lender, Lender.id == Account.lender_id)
        .where(
            Lender.deactivated.is_(True),
            Account.kind == AccountKind.AVAILABLE,
            Account.balance > 0,
        )
        .order_by(Account.id)
        .with_for_update(of=Account)
    ).all()
    if not credit:
        return 0
    total = sum(balance for _lender, _account, balance in credit)
    if policy is LeaverCredit.PAYOUT:
        session.execute(
            insert(PayoutRequest),
            [
                {
                    "lender_id": lender_id,
                    "amount": balance,
                    "created_at": now,
                    "reason": PayoutReason.LEAVER,
                }
                for lender_id, _account, balance in credit
            ],
        )
        target, kind = system_account(session, AccountKind.PAYOUTS), "leaver_payout"
    else:
        target, kind = system_account(session, AccountKind.GRANTS), "leaver_donation"
    legs = [Leg(account_id, -balance) for _lender, account_id, balance in credit]
    post(session, kind, [*legs, Leg(target, total)], now=now)
    return total


@dataclass(frozen=True)
class Leaver:
    """What an operator needs to know of someone who left: what is still theirs in loans and
    what was, or will be, paid out to them."""

    user_id: str
    name: str
    left_at: datetime | None
    committed: int
    outstanding: int
    paid_out: int
    awaiting_payout: int
    donated: int


def leavers(session: Session) -> list[Leaver]:
    """Every lender Slack calls deactivated, the most recent leaving first."""
    people = session.execute(
        select(Lender.id, Lender.slack_user_id, Lender.display_name, Lender.left_at)
        .where(Lender.deactivated.is_(True))
        .order_by(Lender.left_at.desc(), Lender.id)
    ).all()
    ids = [row.id for row in people]
    balances = _balances(session, ids)
    payouts = _payouts(session, ids)
    donated = _donated(session, ids)
    return [
        Leaver(
            user_id=row.slack_user_id,
            name=row.display_name,
            left_at=row.left_at,
            committed=balances.get((row.id, AccountKind.COMMITTED), 0),
            outstanding=balances.get((row.id, AccountKind.OUTSTANDING), 0),
            paid_out=payouts.get((row.id, True), 0),
            awaiting_payout=payouts.get((row.id, False), 0),
            donated=donated.get(row.id, 0),
        )
        for row in people
    ]


def _balances(session: Session, ids: list[int]) -> dict[tuple[int, AccountKind], int]:
    rows = session.execute(
        select(Account.lender_id, Account.kind, Account.balance).where(
            Account.lender_id.in_(ids),
            Account.kind.in_((AccountKind.COMMITTED, AccountKind.OUTSTANDING)),
        )
    ).all()
    return {(lender_id, kind): balance for lender_id, kind, balance in rows if lender_id}


def _payouts(session: Session, ids: list[int]) -> dict[tuple[int, bool], int]:
    """A leaver's payout requests, split by whether finance exported them already."""
    exported = PayoutRequest.export_id.is_not(None)
    rows = session.execute(
        select(PayoutRequest.lender_id, exported, func.sum(PayoutRequest.amount))
        .where(PayoutRequest.lender_id.in_(ids), PayoutRequest.reason == PayoutReason.LEAVER)
        .group_by(PayoutRequest.lender_id, exported)
    ).all()
    return {(lender_id, bool(done)): int(amount) for lender_id, done, amount in rows}


def _donated(session: Session, ids: list[int]) -> dict[int, int]:
    """What their donations gave the grant pool, from the ledger lines that moved it."""
    rows = session.execute(
        select(Account.lender_id, -func.sum(Posting.amount))
        .join(Posting, Posting.account_id == Account.id)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .where(Account.lender_id.in_(ids), LedgerTransaction.kind == "leaver_donation")
        .group_by(Account.lender_id)
    ).all()
    return {lender_id: int(amount) for lender_id, amount in rows if lender_id}
