"""Portfolio and catalogue queries on both databases: totals, paging, constant statements."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.lending import portfolio
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.models import RepaymentInterval
from storage.repayments.recording import RepaymentInput, record_repayments
from tests.factories import make_lender, make_project


def _lend(db: Database, lender_id: int, project_ids: list[int], amount: int = 2_000) -> None:
    # No monthly cap: these lenders lend more new money than one month allows.
    rules = LendingRules(monthly_cap=10**9)
    for project_id in project_ids:
        assert pledge(db.sessions, PledgeRequest(lender_id, project_id, amount), rules, key=None).ok


def _statements(db: Database, loans: int) -> int:
    lender_id = make_lender(db)
    _lend(db, lender_id, [make_project(db, amount=10_000) for _ in range(loans)])
    seen: list[Any] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    with db.sessions() as session:
        held = portfolio.lender_portfolio(session, lender_id, limit=5)
    event.remove(db.engine, "before_cursor_execute", listener)
    assert held.impact.loans == loans and len(held.loans) == min(loans, 5)
    return len(seen)


def test_portfolio_statements_do_not_grow_with_loans(db: Database) -> None:
    assert _statements(db, 2) == _statements(db, 30)


def test_impact_totals(db: Database) -> None:
    lender_id = make_lender(db)
    peru = make_project(db, country="Peru", sector="Agriculture", women=1)
    senegal = make_project(db, country="Senegal", sector="Retail", women=0)
    _lend(db, lender_id, [peru, senegal, peru])
    with db.sessions() as session:
        impact = portfolio.lender_portfolio(session, lender_id).impact
    assert (impact.loans, impact.entrepreneurs, impact.women) == (2, 2, 1)
    assert (impact.countries, impact.sectors, impact.lent) == (2, 2, 6_000)


def _next_share(db: Database, lender_id: int) -> tuple[int | None, int]:
    with db.sessions() as session:
        (loan,) = portfolio.lender_portfolio(session, lender_id).loans
    assert loan.next_due is not None
    return loan.next_share, loan.next_due.owed


def test_next_is_the_lenders_own_share_and_the_round_pays_exactly_that(db: Database) -> None:
    # 30.66 EUR of a 92 EUR single-payment loan: next is their part of what is still owed,
    # before and after a partial repayment, and the round that comes pays them that much.
    project_id = make_project(db, amount=9_200, interval=RepaymentInterval.BULLET)
    ana, bilal = make_lender(db), make_lender(db)
    _lend(db, ana, [project_id], amount=3_066)
    _lend(db, bilal, [project_id], amount=6_134)
    assert _next_share(db, ana) == (3_066, 9_200)
    _repay(db, project_id, 3_400, "PAY-1")
    share, owed = _next_share(db, ana)
    assert owed == 5_800 and share is not None
    before = _repaid_to(db, ana)
    _repay(db, project_id, owed, "PAY-2")
    assert _repaid_to(db, ana) - before == share == 3_066 - before


def test_next_share_follows_the_rounding_of_the_sharing_rule(db: Database) -> None:
    # Three equal lenders of a 1.00 EUR monthly instalment: 33, 33, 34 cents in some order;
    # what each is shown adds up to the instalment.
    project_id = make_project(db, amount=6_300, interval=RepaymentInterval.MONTHLY, term_months=63)
    lenders = [make_lender(db) for _ in range(3)]
    for lender_id in lenders:
        _lend(db, lender_id, [project_id], amount=2_100)
    shown = [_next_share(db, lender_id)[0] for lender_id in lenders]
    assert sorted(shown) == [33, 33, 34]  # type: ignore[type-var]
    _repay(db, project_id, 100, "PAY-1")
    assert [_repaid_to(db, lender_id) for lender_id in lenders] == shown


def _repay(db: Database, project_id: int, amount: int, reference: str) -> None:
    item = RepaymentInput(project_id, amount, utcnow().date(), reference)
    assert record_repayments(db.sessions, [item], LendingRules()).recorded == 1


def _repaid_to(db: Database, lender_id: int) -> int:
    with db.sessions() as session:
        return portfolio.lender_portfolio(session, lender_id).impact.repaid
