"""The demo programme: loads on an empty database, fast and sound; loading it twice is a no-op."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.devtools.demo import (
    ARRIVALS_PER_DAY,
    CIRCLE,
    DEMO_CSV,
    LENDERS,
    PILOT_COUNTRIES,
    TEAM_ID,
    load_demo,
    replenish,
    sample,
)
from storage.circles.models import Circle, CircleMember
from storage.db.database import Database
from storage.db.models import Operation
from storage.ledger.models import Account, Posting
from storage.lending.models import Lender, Pledge
from storage.lending.rules import LendingRules
from storage.notifications.models import Notification
from storage.projects.models import Project, ProjectStatus
from storage.repayments.models import Repayment
from tests.reconciled import assert_reconciled

NOW = datetime(2026, 1, 7, 10, 0)
TABLES = (Project, Lender, Account, Posting, Pledge, Repayment, Circle, CircleMember, Operation)


def snapshot(db: Database) -> dict[str, Any]:
    """Every row count, every balance and every notification: what "nothing changed" compares."""
    with db.sessions() as session:
        counts = {
            model.__tablename__: session.execute(
                select(func.count()).select_from(model)
            ).scalar_one()
            for model in TABLES
        }
        balances = session.execute(select(Account.id, Account.balance).order_by(Account.id)).all()
        notes = session.execute(select(Notification.dedupe_key).order_by(Notification.id)).all()
    return {"counts": counts, "balances": balances, "notifications": notes}


def test_the_demo_loads_on_an_empty_database_quickly(sqlite_db: Database) -> None:
    # This thread's CPU time, so that a loaded machine cannot fail it; a per-row query
    # pattern would still take many times this.
    started = time.thread_time()
    report = load_demo(sqlite_db.sessions, LendingRules(), DEMO_CSV, now=NOW)
    assert time.thread_time() - started < 5
    # A third of the sample opens the catalogue; the rest arrives later.
    assert report.projects_loaded == len(sample(DEMO_CSV).opening) == 341
    assert (report.grants, report.pledges, report.repayments) == (len(LENDERS), 18, 4)
    with sqlite_db.sessions() as session:
        lenders = session.execute(select(Lender.slack_user_id, Lender.tz)).all()
        countries = set(
            session.execute(
                select(Project.country).join(Pledge, Pledge.project_id == Project.id)
            ).scalars()
        )
        statuses = session.execute(
            select(Project.status, func.count()).where(Project.funded > 0).group_by(Project.status)
        ).all()
        circle = session.execute(select(Circle)).scalar_one()
        members = session.execute(select(func.count()).select_from(CircleMember)).scalar_one()
    assert sorted(lenders) == sorted((lender.user_id, lender.tz) for lender in LENDERS)
    assert countries == set(PILOT_COUNTRIES)
    assert dict(statuses) == {
        ProjectStatus.FUNDRAISING: 4,
        ProjectStatus.REPAYING: 2,
        ProjectStatus.REPAID: 1,
        ProjectStatus.FUNDED: 1,
    }
    assert (circle.channel_id, circle.goal, members) == (CIRCLE.channel_id, CIRCLE.goal, 3)


def test_loading_twice_changes_nothing_even_a_day_later(sqlite_db: Database) -> None:
    load_demo(sqlite_db.sessions, LendingRules(), DEMO_CSV, now=NOW)
    before = snapshot(sqlite_db)
    again = load_demo(sqlite_db.sessions, LendingRules(), DEMO_CSV, now=NOW + timedelta(days=1))
    assert not again.changed
    assert snapshot(sqlite_db) == before


def test_the_ledger_is_sound_after_the_demo(sqlite_db: Database) -> None:
    load_demo(sqlite_db.sessions, LendingRules(), DEMO_CSV, now=NOW)
    assert_reconciled(sqlite_db)


def test_the_demo_lenders_belong_to_the_demo_team(sqlite_db: Database) -> None:
    load_demo(sqlite_db.sessions, LendingRules(), DEMO_CSV, now=NOW)
    with sqlite_db.sessions() as session:
        teams = set(session.execute(select(Lender.team_id)).scalars())
    assert teams == {TEAM_ID}


def test_the_demo_knows_nothing_of_slack() -> None:
    root = Path(__file__).parents[3]
    probe = (
        "import sys, bot.devtools.demo; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'slack_sdk', 'slack_bolt', "
        "'handlers', 'templates'}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]"


def test_deadlines_fall_on_every_day_of_the_coming_month(sqlite_db: Database) -> None:
    load_demo(sqlite_db.sessions, LendingRules(), DEMO_CSV, now=NOW)
    with sqlite_db.sessions() as session:
        deadlines = session.execute(
            select(Project.deadline).where(Project.status == ProjectStatus.FUNDRAISING)
        ).scalars()
        days = {(deadline - NOW).days for deadline in deadlines}
    assert days == set(range(1, 31))


def test_new_loans_arrive_in_the_order_of_the_sample_until_it_is_used_up(
    sqlite_db: Database,
) -> None:
    load_demo(sqlite_db.sessions, LendingRules(), DEMO_CSV, now=NOW)
    loans = sample(DEMO_CSV)
    later, position = loans.later, loans.header.index("id")
    morning = NOW + timedelta(days=1)
    assert replenish(sqlite_db.sessions, LendingRules(), DEMO_CSV, now=morning) == 10
    with sqlite_db.sessions() as session:
        arrived = session.execute(
            select(Project.external_id, Project.deadline).where(
                Project.external_id.in_([row[position] for row in later[:ARRIVALS_PER_DAY]])
            )
        ).all()
    assert {deadline for _, deadline in arrived} == {morning + timedelta(days=30)}
    assert len(arrived) == ARRIVALS_PER_DAY
    rounds = [
        replenish(sqlite_db.sessions, LendingRules(), DEMO_CSV, now=morning + timedelta(days=d))
        for d in range(1, 70)
    ]
    assert sum(rounds) + 10 == len(later) and rounds[-1] == 0
