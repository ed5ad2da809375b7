"""People who leave the company, on both databases: their credit and every later repayment go
out as payout requests marked as theirs (or to the grant pool), their circles pass on, no new
money is taken in their name, and someone reactivated carries on where they were."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.circles.membership import create_circle, join_circle, leave_circle
from storage.circles.models import Circle
from storage.circles.statistics import circle_stats
from storage.db.clock import utcnow
from storage.db.database import Database
from storage.db.unit_of_work import transaction
from storage.ledger.accounts import balance, lender_balance, system_account
from storage.ledger.models import AccountKind
from storage.ledger.reconciliation import reconcile
from storage.lending.credit import grant_credit
from storage.lending.lenders import SlackIdentity
from storage.lending.models import Lender, PayoutReason, PayoutRequest
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LeaverCredit, LendingRules
from storage.people.directory import Profile, update_profiles
from storage.people.leavers import leavers
from storage.projects.lifecycle import expire_due_projects
from storage.repayments.recording import RepaymentInput, record_repayment
from tests.factories import make_lender, make_project

TEAM = "T0001"
RULES = LendingRules()


def lend(db: Database, lender_id: int, amount: int) -> int:
    project_id = make_project(db, amount=amount)
    assert pledge(db.sessions, PledgeRequest(lender_id, project_id, amount), RULES, key=None).ok
    return project_id


def repay(db: Database, project_id: int, amount: int, reference: str, rules: LendingRules) -> None:
    item = RepaymentInput(project_id, amount, utcnow().date(), reference)
    assert record_repayment(db.sessions, item, rules).ok


def set_active(db: Database, user_id: str, active: bool, policy: LeaverCredit) -> None:
    with transaction(db.sessions) as session:
        update_profiles(session, TEAM, [Profile(user_id, "", None, deactivated=not active)], policy)


def available(db: Database, lender_id: int) -> int:
    with db.sessions() as session:
        return lender_balance(session, lender_id, AccountKind.AVAILABLE)


def payouts(db: Database, lender_id: int) -> list[tuple[int, PayoutReason]]:
    with db.sessions() as session:
        rows = session.execute(
            select(PayoutRequest.amount, PayoutRequest.reason)
            .where(PayoutRequest.lender_id == lender_id)
            .order_by(PayoutRequest.id)
        )
        return [(amount, reason) for amount, reason in rows]


def assert_books_reconcile(db: Database) -> None:
    with db.sessions() as session:
        assert reconcile(session).ok


def test_a_leavers_credit_and_every_later_repayment_are_paid_out_as_theirs(db: Database) -> None:
    ana = make_lender(db, "UANA", TEAM)
    project_id = lend(db, ana, 4_000)
    repay(db, project_id, 1_000, "R-1", RULES)
    assert available(db, ana) == 1_000

    set_active(db, "UANA", False, LeaverCredit.PAYOUT)
    assert available(db, ana) == 0
    assert payouts(db, ana) == [(1_000, PayoutReason.LEAVER)]

    repay(db, project_id, 1_500, "R-2", RULES)
    assert available(db, ana) == 0
    assert payouts(db, ana) == [(1_000, PayoutReason.LEAVER), (1_500, PayoutReason.LEAVER)]
    with db.sessions() as session:
        [seen] = leavers(session)
    assert (seen.user_id, seen.outstanding, seen.awaiting_payout, seen.paid_out) == (
        "UANA",
        1_500,
        2_500,
        0,
    )
    assert seen.left_at is not None
    assert_books_reconcile(db)


def test_settling_a_leaver_twice_pays_nothing_twice(db: Database) -> None:
    ana = make_lender(db, "UANA", TEAM)
    project_id = lend(db, ana, 4_000)
    repay(db, project_id, 1_000, "R-1", RULES)
    set_active(db, "UANA", False, LeaverCredit.PAYOUT)
    set_active(db, "UANA", False, LeaverCredit.PAYOUT)
    assert payouts(db, ana) == [(1_000, PayoutReason.LEAVER)]
    assert_books_reconcile(db)


def test_with_donate_a_leavers_credit_goes_to_the_grant_pool(db: Database) -> None:
    donate = LendingRules(leaver_credit=LeaverCredit.DONATE)
    ana = make_lender(db, "UANA", TEAM)
    project_id = lend(db, ana, 4_000)
    repay(db, project_id, 1_000, "R-1", donate)
    with db.sessions() as session:
        pool = system_account(session, AccountKind.GRANTS)
        before = balance(session, pool)
    set_active(db, "UANA", False, LeaverCredit.DONATE)
    repay(db, project_id, 500, "R-2", donate)
    with db.sessions() as session:
        assert balance(session, pool) == before + 1_500
        [seen] = leavers(session)
    assert payouts(db, ana) == []
    assert (seen.donated, seen.awaiting_payout) == (1_500, 0)
    assert_books_reconcile(db)


def test_a_refund_to_a_leaver_is_paid_out_too(db: Database) -> None:
    ana = make_lender(db, "UANA", TEAM)
    project_id = make_project(db, amount=10_000)
    assert pledge(db.sessions, PledgeRequest(ana, project_id, 2_000), RULES, key=None).ok
    set_active(db, "UANA", False, LeaverCredit.PAYOUT)
    assert payouts(db, ana) == []
    expire_due_projects(db.sessions, now=utcnow() + timedelta(days=60))
    assert payouts(db, ana) == [(2_000, PayoutReason.LEAVER)]
    assert_books_reconcile(db)


def test_no_new_money_is_taken_in_a_leavers_name(db: Database) -> None:
    ana = make_lender(db, "UANA", TEAM)
    set_active(db, "UANA", False, LeaverCredit.PAYOUT)
    project_id = make_project(db, amount=10_000)
    refused = pledge(db.sessions, PledgeRequest(ana, project_id, 2_000), RULES, key=None)
    assert refused.refusal is not None and refused.refusal.code == "left_company"
    granted = grant_credit(db.sessions, ana, 2_000, key="g-1", reason="welcome")
    assert granted.refusal is not None and granted.refusal.code == "left_company"
    assert available(db, ana) == 0 and payouts(db, ana) == []


def test_a_leaving_lead_passes_the_circle_on_and_a_return_carries_on(db: Database) -> None:
    lea, ana, ben = (SlackIdentity(user, TEAM) for user in ("ULEA", "UANA", "UBEN"))
    assert create_circle(db.sessions, lea, "CANDES", "Andes").ok
    for member in (ana, ben):
        assert join_circle(db.sessions, member, channel_id="CANDES").ok
    set_active(db, "ULEA", False, LeaverCredit.PAYOUT)
    with db.sessions() as session:
        circle = session.execute(select(Circle)).scalar_one()
        lead = session.get_one(Lender, circle.lead_id).slack_user_id
    stats = circle_stats(db.sessions, ana, "CANDES").value()
    # Ana joined before Ben; Lea stays on the rolls, uncounted.
    assert (lead, stats.members) == ("UANA", 2)

    set_active(db, "ULEA", True, LeaverCredit.PAYOUT)
    assert circle_stats(db.sessions, ana, "CANDES").value().members == 3
    with db.sessions() as session:
        back = session.execute(select(Lender).where(Lender.slack_user_id == "ULEA")).scalar_one()
        assert (back.deactivated, back.left_at) == (False, None)
    # Back, Lea is a member again and may leave as anyone does.
    assert leave_circle(db.sessions, lea, channel_id="CANDES").value().changed
