"""A partner's round of repayments, recorded at once: staged in chunks, shared set-based."""

from __future__ import annotations

from datetime import date

from storage.db.database import Database
from storage.ledger.accounts import lender_balance
from storage.ledger.models import AccountKind
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.models import Project, ProjectStatus
from storage.repayments.recording import RepaymentInput, record_repayment, record_repayments
from tests.factories import make_lender, make_project
from tests.reconciled import assert_reconciled

DAY = date(2026, 11, 2)


def funded(db: Database, rules: LendingRules, amount: int) -> tuple[int, int]:
    project_id, lender = make_project(db, amount), make_lender(db)
    request = PledgeRequest(lender, project_id, amount)
    assert pledge(db.sessions, request, rules, key=f"p{project_id}").ok
    return project_id, lender


def test_a_round_spans_chunks_and_several_instalments_of_one_project(
    db: Database, rules: LendingRules
) -> None:
    loans = [funded(db, rules, 100_00) for _ in range(5)]
    items = [RepaymentInput(p, 10_00, DAY, f"a-{p}") for p, _ in loans]
    items += [RepaymentInput(loans[0][0], 90_00, DAY, "second-of-first")]
    result = record_repayments(db.sessions, items, rules, chunk_size=2)
    assert (result.recorded, result.replayed, result.refused) == (6, 0, [])
    assert len(result.transaction_ids) == 2  # the first project's second instalment waits a round
    with db.sessions() as session:
        first = session.get(Project, loans[0][0])
        assert first is not None and first.status == ProjectStatus.REPAID
        assert lender_balance(session, loans[0][1], AccountKind.AVAILABLE) == 100_00
        assert lender_balance(session, loans[1][1], AccountKind.AVAILABLE) == 10_00
    assert_reconciled(db)


def test_replays_reused_references_and_overpayments_within_a_round(
    db: Database, rules: LendingRules
) -> None:
    (project_id, lender), (other, _) = funded(db, rules, 50_00), funded(db, rules, 50_00)
    assert record_repayment(db.sessions, RepaymentInput(project_id, 5_00, DAY, "r1"), rules).ok
    items = [
        RepaymentInput(project_id, 5_00, DAY, "r1"),  # the same report again: a replay
        RepaymentInput(project_id, 6_00, DAY, "r1"),  # the same reference, other facts
        RepaymentInput(other, 40_00, DAY, "r2"),
        RepaymentInput(other, 20_00, DAY, "r3"),  # more than is left after r2 in this round
        RepaymentInput(other, 1_00, DAY, "r2"),  # reused within the round
        RepaymentInput(999_999, 1_00, DAY, "r4"),
    ]
    result = record_repayments(db.sessions, items, rules, chunk_size=3)
    assert (result.recorded, result.replayed) == (1, 1)
    codes = [refusal.code for _, refusal in result.refused]
    assert codes == [
        "idempotency_conflict",
        "over_outstanding",
        "idempotency_conflict",
        "unknown_project",
    ]
    with db.sessions() as session:
        assert lender_balance(session, lender, AccountKind.AVAILABLE) == 5_00
    again = record_repayments(db.sessions, items, rules)
    assert (again.recorded, again.replayed) == (0, 2)


def test_one_repayment_told_again_on_another_day_is_not_paid_again(
    db: Database, rules: LendingRules
) -> None:
    project_id, lender = funded(db, rules, 100_00)
    first = RepaymentInput(project_id, 10_00, DAY, "PAY-1")
    assert record_repayment(db.sessions, first, rules).ok
    next_day = RepaymentInput(project_id, 10_00, date(2026, 11, 3), "PAY-1")
    again = record_repayment(db.sessions, next_day, rules)
    assert again.ok and again.replayed
    other = record_repayment(db.sessions, RepaymentInput(project_id, 5_00, DAY, "PAY-1"), rules)
    assert other.refusal is not None
    assert (
        other.refusal.message == "The reference 'PAY-1' was already used for a different repayment."
    )
    with db.sessions() as session:
        assert lender_balance(session, lender, AccountKind.AVAILABLE) == 10_00


def test_a_round_of_a_generator_is_read_once(db: Database, rules: LendingRules) -> None:
    project_id, _lender = funded(db, rules, 100_00)
    items = (RepaymentInput(project_id, 10_00, DAY, f"g-{n}") for n in range(2))
    assert record_repayments(db.sessions, items, rules).recorded == 2  # type: ignore[arg-type]
