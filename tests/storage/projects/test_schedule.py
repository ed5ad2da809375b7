"""The expected schedule of a funded loan, and what of it the repayments so far have paid."""

from __future__ import annotations

from datetime import datetime

from storage.projects.models import Project, ProjectStatus, RepaymentInterval
from storage.projects.schedule import expected_schedule, next_expected


def _loan(amount: int, *, term: int, interval: RepaymentInterval, repaid: int = 0) -> Project:
    return Project(
        amount=amount,
        funded=amount,
        repaid=repaid,
        lost=0,
        term_months=term,
        repayment_interval=interval,
        status=ProjectStatus.REPAYING if repaid else ProjectStatus.FUNDED,
        funded_at=datetime(2026, 1, 15),
    )


def test_a_single_payment_loan_partly_repaid_expects_what_is_still_owed() -> None:
    loan = _loan(18_400, term=8, interval=RepaymentInterval.BULLET, repaid=3_400)
    due = next_expected(loan)
    assert due is not None
    assert (due.amount, due.paid, due.owed) == (18_400, 3_400, 15_000)
    assert due.due.isoformat() == "2026-09-15"


def test_repayments_pay_the_schedule_in_order_and_an_early_one_runs_ahead() -> None:
    # 92 EUR over 4 months: 23 EUR a month; 50 EUR repaid covers two and 4 EUR of the third.
    loan = _loan(9_200, term=4, interval=RepaymentInterval.MONTHLY, repaid=5_000)
    schedule = expected_schedule(loan)
    assert [(i.amount, i.paid, i.is_paid) for i in schedule] == [
        (2_300, 2_300, True),
        (2_300, 2_300, True),
        (2_300, 400, False),
        (2_300, 0, False),
    ]
    due = next_expected(loan)
    assert due is not None and (due.owed, due.due.isoformat()) == (1_900, "2026-04-15")


def test_a_loan_repaid_in_full_expects_nothing() -> None:
    loan = _loan(9_200, term=4, interval=RepaymentInterval.MONTHLY, repaid=9_200)
    loan.status = ProjectStatus.REPAID
    assert all(i.is_paid for i in expected_schedule(loan))
    assert next_expected(loan) is None
