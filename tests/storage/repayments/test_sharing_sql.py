"""The set-based SQL that shares repayments agrees with the reference rule, cent for cent."""

from __future__ import annotations

import itertools
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from storage.db.database import Database
from storage.lending.models import Pledge
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.repayments.recording import RepaymentInput, record_repayment
from storage.repayments.sharing import PledgeState, apportion
from tests.factories import make_lender, make_project

RULES = LendingRules(min_pledge=1, monthly_cap=10**12)
_keys = itertools.count()


@st.composite
def loans(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Pledge amounts and a schedule of instalments that repays the loan in full."""
    amounts = draw(st.lists(st.integers(1, 50_000), min_size=1, max_size=12))
    total = sum(amounts)
    cuts = draw(st.lists(st.integers(1, total - 1), max_size=8, unique=True)) if total > 1 else []
    points = [0, *sorted(cuts), total]
    return amounts, [b - a for a, b in itertools.pairwise(points)]


def fund(db: Database, amounts: list[int]) -> tuple[int, list[int]]:
    project_id = make_project(db, sum(amounts))
    pledge_ids = []
    for amount in amounts:
        request = PledgeRequest(make_lender(db), project_id, amount)
        pledge_ids.append(
            pledge(db.sessions, request, RULES, key=f"k{next(_keys)}").value().pledge_id
        )
    return project_id, pledge_ids


def repaid(db: Database, pledge_ids: list[int]) -> list[int]:
    with db.sessions() as session:
        rows = dict(
            session.execute(select(Pledge.id, Pledge.repaid).where(Pledge.id.in_(pledge_ids))).all()
        )
    return [rows[pledge_id] for pledge_id in pledge_ids]


def check_schedule(db: Database, amounts: list[int], instalments: list[int]) -> None:
    project_id, pledge_ids = fund(db, amounts)
    total, before = sum(amounts), 0
    for instalment in instalments:
        states = [
            PledgeState(pledge_id, amount, paid)
            for pledge_id, amount, paid in zip(
                pledge_ids, amounts, repaid(db, pledge_ids), strict=True
            )
        ]
        expected = apportion(instalment, states, loan_total=total, repaid_before=before)
        item = RepaymentInput(project_id, instalment, date(2026, 1, 1), f"r{next(_keys)}")
        assert record_repayment(db.sessions, item, RULES).ok
        after = repaid(db, pledge_ids)
        assert [a - s.repaid for a, s in zip(after, states, strict=True)] == expected
        before += instalment
    assert repaid(db, pledge_ids) == amounts


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(loan=loans())
def test_sql_shares_equal_the_reference_rule_on_sqlite(
    sqlite_db: Database, loan: tuple[list[int], list[int]]
) -> None:
    check_schedule(sqlite_db, *loan)


@pytest.mark.postgres
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(loan=loans())
def test_sql_shares_equal_the_reference_rule_on_postgres(
    postgres_db: Database, loan: tuple[list[int], list[int]]
) -> None:
    check_schedule(postgres_db, *loan)


def test_one_cent_instalments_with_awkward_splits(db: Database) -> None:
    check_schedule(db, [1, 2, 31, 22, 22, 22], [1] * 100)
