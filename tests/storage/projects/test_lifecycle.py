"""A loan's whole life, on SQLite and PostgreSQL: pledge, fund, repay, default, expire."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.ledger.accounts import lender_balance
from storage.ledger.models import AccountKind
from storage.lending.credit import grant_credit, withdraw
from storage.lending.models import Pledge
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.notifications.models import Notification
from storage.projects.lifecycle import default_project, expire_due_projects
from storage.projects.models import Project, ProjectStatus
from storage.repayments.recording import RepaymentInput, record_repayment
from tests.factories import make_lender, make_project
from tests.reconciled import assert_reconciled


def balance(db: Database, lender_id: int, kind: AccountKind) -> int:
    with db.sessions() as session:
        return lender_balance(session, lender_id, kind)


def project(db: Database, project_id: int) -> Project:
    with db.sessions() as session:
        found = session.get(Project, project_id)
        assert found is not None
        return found


def assert_ledger_sound(db: Database) -> None:
    assert_reconciled(db)


def test_a_pledge_uses_credit_first_and_the_rest_as_payroll_money(
    db: Database, rules: LendingRules
) -> None:
    lender, project_id = make_lender(db), make_project(db, 100_000)
    assert grant_credit(db.sessions, lender, 1_500, key="welcome:1", reason="welcome").ok
    outcome = pledge(db.sessions, PledgeRequest(lender, project_id, 5_000), rules, key="p1")
    result = outcome.value()
    assert (result.from_credit, result.from_payroll, result.still_needed) == (1_500, 3_500, 95_000)
    assert balance(db, lender, AccountKind.AVAILABLE) == 0
    assert balance(db, lender, AccountKind.COMMITTED) == 5_000
    assert project(db, project_id).funded == 5_000
    assert_ledger_sound(db)


def test_the_pledge_that_fills_a_project_funds_it_and_repayments_return_everything(
    db: Database, rules: LendingRules
) -> None:
    project_id = make_project(db, 10_000)
    lenders = [make_lender(db) for _ in range(3)]
    for index, (lender, amount) in enumerate(zip(lenders, (3_333, 3_333, 3_334), strict=True)):
        assert pledge(
            db.sessions, PledgeRequest(lender, project_id, amount), rules, key=f"p{index}"
        ).ok
    assert project(db, project_id).status == ProjectStatus.FUNDED
    assert [balance(db, lender, AccountKind.OUTSTANDING) for lender in lenders] == [
        3_333,
        3_333,
        3_334,
    ]
    for number, amount in enumerate((1, 999, 4_000, 5_000)):
        item = RepaymentInput(project_id, amount, date(2026, 1, 1), f"ref-{number}")
        assert record_repayment(db.sessions, item, rules).ok
    assert project(db, project_id).status == ProjectStatus.REPAID
    assert [balance(db, lender, AccountKind.AVAILABLE) for lender in lenders] == [
        3_333,
        3_333,
        3_334,
    ]
    assert all(balance(db, lender, AccountKind.OUTSTANDING) == 0 for lender in lenders)
    assert_ledger_sound(db)
    with db.sessions() as session:
        kinds = session.execute(
            select(Notification.kind, func.count()).group_by(Notification.kind)
        ).all()
    assert dict(kinds) == {"funded": 3, "repayment": 12}


def test_a_refused_pledge_leaves_no_trace(db: Database, rules: LendingRules) -> None:
    lender, project_id = make_lender(db), make_project(db, 10_000)
    too_small = pledge(db.sessions, PledgeRequest(lender, project_id, 1_999), rules, key="a")
    too_big = pledge(db.sessions, PledgeRequest(lender, project_id, 10_001), rules, key="b")
    assert (
        too_small.refusal is not None and "smallest pledge is €20.00" in too_small.refusal.message
    )
    assert too_big.refusal is not None and "needs only €100.00" in too_big.refusal.message
    with db.sessions() as session:
        assert session.execute(select(func.count()).select_from(Pledge)).scalar_one() == 0
    assert project(db, project_id).funded == 0
    assert_ledger_sound(db)


def test_replaying_a_key_returns_the_same_result_and_changes_nothing(
    db: Database, rules: LendingRules
) -> None:
    lender, project_id = make_lender(db), make_project(db, 10_000)
    request = PledgeRequest(lender, project_id, 2_000)
    first = pledge(db.sessions, request, rules, key="intent-1")
    second = pledge(db.sessions, request, rules, key="intent-1")
    assert second.replayed and second.result == first.result
    assert project(db, project_id).funded == 2_000
    other = pledge(db.sessions, PledgeRequest(lender, project_id, 3_000), rules, key="intent-1")
    assert other.refusal is not None and other.refusal.code == "idempotency_conflict"


def test_the_monthly_cap_limits_new_money_but_not_credit(db: Database) -> None:
    rules = LendingRules(monthly_cap=5_000)
    lender, project_id = make_lender(db), make_project(db, 100_000)
    assert pledge(db.sessions, PledgeRequest(lender, project_id, 4_000), rules, key="1").ok
    refused = pledge(db.sessions, PledgeRequest(lender, project_id, 2_000), rules, key="2")
    assert refused.refusal is not None and refused.refusal.code == "monthly_cap"
    assert "€10.00 more this month" in refused.refusal.message
    grant_credit(db.sessions, lender, 2_000, key="g", reason="matching")
    assert pledge(db.sessions, PledgeRequest(lender, project_id, 2_000), rules, key="3").ok


def test_expiry_returns_every_pledge_to_available_credit(db: Database, rules: LendingRules) -> None:
    project_id = make_project(db, 10_000, deadline=utcnow() + timedelta(hours=1))
    lender = make_lender(db)
    assert pledge(db.sessions, PledgeRequest(lender, project_id, 2_500), rules, key="x").ok
    assert expire_due_projects(db.sessions, now=utcnow()).expired_projects == 0
    later = utcnow() + timedelta(hours=2)
    result = expire_due_projects(db.sessions, now=later)
    assert (result.expired_projects, result.refunded_pledges) == (1, 1)
    assert expire_due_projects(db.sessions, now=later).expired_projects == 0
    assert balance(db, lender, AccountKind.AVAILABLE) == 2_500
    assert balance(db, lender, AccountKind.COMMITTED) == 0
    assert project(db, project_id).status == ProjectStatus.EXPIRED
    assert_ledger_sound(db)


def test_a_default_moves_what_is_outstanding_to_losses(db: Database, rules: LendingRules) -> None:
    project_id, lender = make_project(db, 4_000), make_lender(db)
    assert pledge(db.sessions, PledgeRequest(lender, project_id, 4_000), rules, key="x").ok
    record_repayment(db.sessions, RepaymentInput(project_id, 1_000, date.today(), "r1"), rules)
    outcome = default_project(db.sessions, project_id, reason="flood", key="d1")
    assert outcome.value().lost == 3_000
    assert balance(db, lender, AccountKind.OUTSTANDING) == 0
    assert balance(db, lender, AccountKind.AVAILABLE) == 1_000
    assert project(db, project_id).status == ProjectStatus.DEFAULTED
    assert_ledger_sound(db)


def test_withdrawal_becomes_a_payout_request_within_available_credit(db: Database) -> None:
    lender = make_lender(db)
    grant_credit(db.sessions, lender, 3_000, key="g", reason="welcome")
    too_much = withdraw(db.sessions, lender, 3_001, key="w0")
    assert too_much.refusal is not None and "at most €30.00" in too_much.refusal.message
    assert withdraw(db.sessions, lender, 1_000, key="w1").value().available == 2_000
    assert withdraw(db.sessions, lender, None, key="w2").value().amount == 2_000
    assert balance(db, lender, AccountKind.AVAILABLE) == 0
    assert_ledger_sound(db)
