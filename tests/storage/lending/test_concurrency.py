"""Races decided by the database: never over-funded, credit never negative, no deadlock."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from storage.db.database import Database
from storage.db.unit_of_work import Outcome
from storage.ledger.accounts import lender_balance
from storage.ledger.models import AccountKind
from storage.lending.credit import grant_credit
from storage.lending.models import Pledge
from storage.lending.pledges import PledgeRequest, PledgeResult, pledge
from storage.lending.rules import LendingRules
from storage.projects.models import Project, ProjectStatus
from tests.factories import make_lender, make_project
from tests.reconciled import assert_reconciled

THREADS = 50


def race(
    db: Database, requests: list[PledgeRequest], rules: LendingRules
) -> list[Outcome[PledgeResult]]:
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(pledge, db.sessions, request, rules, key=f"race-{index}")
            for index, request in enumerate(requests)
        ]
        return [future.result(timeout=120) for future in futures]


def test_fifty_lenders_race_for_the_last_thousand_euros(db: Database, rules: LendingRules) -> None:
    project_id = make_project(db, 1_000_00)
    lenders = [make_lender(db) for _ in range(THREADS)]
    outcomes = race(db, [PledgeRequest(lender, project_id, 30_00) for lender in lenders], rules)
    accepted = [o for o in outcomes if o.ok]
    refused = Counter(o.refusal.code for o in outcomes if o.refusal is not None)
    # 33 pledges of 30 EUR fit in 1,000 EUR; the 10 EUR left is below the minimum for anyone.
    assert len(accepted) == 33
    assert sum(refused.values()) == THREADS - 33
    assert set(refused) <= {"over_needed", "project_closed"}
    assert all(o.refusal.message for o in outcomes if o.refusal is not None)
    with db.sessions() as session:
        project = session.get(Project, project_id)
        assert project is not None and project.funded == 990_00
        assert project.status == ProjectStatus.FUNDRAISING
        pledged = session.execute(select(func.sum(Pledge.amount))).scalar_one()
        assert pledged == 990_00


def test_fifty_threads_filling_a_project_exactly_fund_it_once(
    db: Database, rules: LendingRules
) -> None:
    project_id = make_project(db, 25 * 40_00)
    lenders = [make_lender(db) for _ in range(THREADS)]
    outcomes = race(db, [PledgeRequest(lender, project_id, 40_00) for lender in lenders], rules)
    assert sum(o.ok for o in outcomes) == 25
    assert sum(o.value().funded_project for o in outcomes if o.ok) == 1
    with db.sessions() as session:
        project = session.get(Project, project_id)
        assert project is not None and project.status == ProjectStatus.FUNDED
        assert project.funded == project.amount


def test_fifty_threads_spending_one_lenders_credit(db: Database) -> None:
    rules = LendingRules(monthly_cap=0)  # no new money: only the credit can pay
    lender = make_lender(db)
    assert grant_credit(db.sessions, lender, 500_00, key="g", reason="welcome").ok
    projects = [make_project(db, 100_000_00) for _ in range(5)]
    requests = [PledgeRequest(lender, projects[i % 5], 25_00) for i in range(THREADS)]
    outcomes = race(db, requests, rules)
    assert sum(o.ok for o in outcomes) == 20
    refusals = {o.refusal.code for o in outcomes if o.refusal is not None}
    assert refusals == {"monthly_cap"}
    with db.sessions() as session:
        assert lender_balance(session, lender, AccountKind.AVAILABLE) == 0
        assert lender_balance(session, lender, AccountKind.COMMITTED) == 500_00
    assert_reconciled(db)
