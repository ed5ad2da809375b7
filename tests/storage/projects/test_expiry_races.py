"""Expiry against itself and against pledges: every pledge is refunded exactly once.

Two runners (the scheduled tick and an operator's `microlend jobs run expire`) and pledges
landing while a run is under way, on PostgreSQL where they truly run at once. The books are
reconciled afterwards by the fixture every storage test gets.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import storage.lending.pledges as pledges_module
from storage.db.clock import utcnow
from storage.db.database import Database
from storage.db.unit_of_work import Retry
from storage.ledger.accounts import lender_balance
from storage.ledger.models import AccountKind
from storage.lending.credit import grant_credit
from storage.lending.models import Pledge
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.lifecycle import ExpiryResult, expire_due_projects
from storage.projects.models import Project, ProjectStatus
from tests.factories import make_lender, make_project

RULES = LendingRules(min_pledge=100)


def due_projects(db: Database, count: int, lenders: list[int]) -> list[int]:
    """Projects that raised a little and are due to expire, each pledged by every lender."""
    now = utcnow()
    projects = [
        make_project(db, 1_000_00, deadline=now + timedelta(seconds=2)) for _ in range(count)
    ]
    for project in projects:
        for lender in lenders:
            request = PledgeRequest(lender, project, 20_00)
            assert pledge(db.sessions, request, RULES, key=f"{project}:{lender}", now=now).ok
    return projects


def test_two_expiry_runs_at_once_refund_each_pledge_once(postgres_db: Database) -> None:
    db = postgres_db
    lenders = [make_lender(db) for _ in range(5)]
    live = make_project(db, 1_000_00)
    for lender in lenders:
        assert grant_credit(db.sessions, lender, 100_00, key=f"g{lender}", reason="welcome").ok
        assert pledge(db.sessions, PledgeRequest(lender, live, 50_00), RULES, key=f"l{lender}").ok
    projects = due_projects(db, 20, lenders)
    later = utcnow() + timedelta(minutes=1)
    start = threading.Barrier(2)

    def run() -> ExpiryResult:
        start.wait()
        return expire_due_projects(db.sessions, now=later)

    with ThreadPoolExecutor(2) as pool:
        results = [future.result() for future in [pool.submit(run), pool.submit(run)]]
    assert sum(r.expired_projects for r in results) == len(projects)
    assert sum(r.refunded_pledges for r in results) == len(projects) * len(lenders)
    with db.sessions() as session:
        for lender in lenders:
            # Every expired pledge back once: 400 in credit, the live 50 still committed.
            assert lender_balance(session, lender, AccountKind.AVAILABLE) == 400_00
            assert lender_balance(session, lender, AccountKind.COMMITTED) == 50_00


@pytest.mark.parametrize("round_", range(3))
def test_pledges_racing_an_expiry_are_refused_or_refunded(
    postgres_db: Database, round_: int
) -> None:
    db = postgres_db
    lenders = [make_lender(db) for _ in range(12)]
    deadline = utcnow() + timedelta(seconds=1)
    projects = [make_project(db, 10_000_00, deadline=deadline) for _ in range(10)]
    before, after = deadline - timedelta(milliseconds=1), deadline + timedelta(seconds=1)
    go = threading.Event()

    def lend(lender: int) -> int:
        go.wait()
        made = 0
        for number, project in enumerate(projects * 3):
            request = PledgeRequest(lender, project, 20_00)
            key = f"{round_}:{lender}:{number}"
            made += pledge(db.sessions, request, RULES, key=key, now=before).ok
        return made

    with ThreadPoolExecutor(13) as pool:
        lending = [pool.submit(lend, lender) for lender in lenders]
        expiring = pool.submit(lambda: (go.wait(), expire_due_projects(db.sessions, now=after))[1])
        go.set()
        made = sum(future.result() for future in lending)
        first = expiring.result()
    second = expire_due_projects(db.sessions, now=after)
    with db.sessions() as session:
        statuses = set(
            session.execute(select(Project.status).where(Project.id.in_(projects))).scalars()
        )
        unrefunded = session.execute(
            select(func.count()).where(Pledge.refunded.is_(False), Pledge.project_id.in_(projects))
        ).scalar_one()
        pledged = session.execute(
            select(func.count()).where(Pledge.project_id.in_(projects))
        ).scalar_one()
    assert statuses == {ProjectStatus.EXPIRED}
    assert unrefunded == 0
    assert pledged == made
    assert first.refunded_pledges + second.refunded_pledges == made


def test_a_pledge_reads_the_clock_again_when_it_retries(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry after the deadline is refused, though the first attempt began before it."""
    db = sqlite_db
    deadline = utcnow() + timedelta(hours=1)
    project, lender = make_project(db, 1_000_00, deadline=deadline), make_lender(db)
    times = iter([deadline - timedelta(seconds=1), deadline + timedelta(seconds=1)])
    monkeypatch.setattr(pledges_module, "utcnow", lambda: next(times))
    original = pledges_module._add_funding
    attempts: list[int] = []

    def busy_once(*args: object, **kwargs: object) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise Retry()
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pledges_module, "_add_funding", busy_once)
    outcome = pledge(db.sessions, PledgeRequest(lender, project, 20_00), RULES, key="late")
    assert outcome.refusal is not None and outcome.refusal.code == "project_closed"
