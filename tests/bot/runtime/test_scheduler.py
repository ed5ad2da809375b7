"""Scheduled ticks: keyed by period so a double or late run tells nobody twice; one leader."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from bot.runtime.jobs import JOBS, JobContext, JobSchedule, list_jobs, run_job
from bot.runtime.scheduler import ADVISORY_LOCK_KEY, Leadership, build_scheduler
from storage.circles.models import Circle, CircleMember
from storage.db.database import Database
from storage.lending.credit import grant_credit
from storage.lending.models import Lender
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.notifications.models import Notification
from storage.projects.models import Project
from tests.factories import make_lender, make_project

START = datetime(2026, 1, 7, 10, 0)


def queued(db: Database, kind: str) -> int:
    with db.sessions() as session:
        query = select(func.count()).where(Notification.kind == kind)
        return session.execute(query).scalar_one()


def context(db: Database, rules: LendingRules, now: datetime) -> JobContext:
    return JobContext(db.sessions, rules, clock=lambda: now)


def test_idle_credit_reminders_once_a_month_for_credit_unused_30_days(
    db: Database, rules: LendingRules
) -> None:
    idle, fresh, small = make_lender(db), make_lender(db), make_lender(db)
    old = START - timedelta(days=40)
    assert grant_credit(db.sessions, idle, 5_000, key="g1", reason="welcome", now=old).ok
    assert grant_credit(db.sessions, fresh, 5_000, key="g2", reason="welcome", now=START).ok
    assert grant_credit(db.sessions, small, 1_000, key="g3", reason="welcome", now=old).ok

    for _ in range(2):
        run_job(context(db, rules, START), "idle-credit")
    assert queued(db, "idle_credit") == 1
    run_job(context(db, rules, START + timedelta(days=31)), "idle-credit")
    assert queued(db, "idle_credit") == 3  # next month: both of the 50 EUR lenders


def test_delinquent_loans_are_flagged_and_their_lenders_told_once(
    db: Database, rules: LendingRules
) -> None:
    lender = make_lender(db)
    project_id = make_project(db, 2_000, deadline=START + timedelta(days=30))
    assert pledge(
        db.sessions, PledgeRequest(lender, project_id, 2_000), rules, key=None, now=START
    ).ok
    late = START + timedelta(days=120)

    for _ in range(2):
        run_job(context(db, rules, late), "delinquency")

    assert queued(db, "delinquent") == 1
    with db.sessions() as session:
        assert session.get(Project, project_id).delinquent_since == late.date()  # type: ignore[union-attr]


def test_circle_summaries_weekly_unless_turned_off(db: Database, rules: LendingRules) -> None:
    lead = make_lender(db)
    with db.sessions() as session, session.begin():
        workspace_id = session.get(Lender, lead).workspace_id  # type: ignore[union-attr]
        for number, summary in enumerate((True, False)):
            circle = Circle(
                workspace_id=workspace_id,
                channel_id=f"C{number}",
                name=f"Circle {number}",
                lead_id=lead,
                weekly_summary=summary,
                created_at=START,
            )
            session.add(circle)
            session.flush()
            # A circle nobody belongs to any more is closed and gets no summary.
            session.add(CircleMember(circle_id=circle.id, lender_id=lead, joined_at=START))
    for _ in range(2):
        run_job(context(db, rules, START), "circle-summaries")
    assert queued(db, "circle_summary") == 1
    run_job(context(db, rules, START + timedelta(days=7)), "circle-summaries")
    assert queued(db, "circle_summary") == 2


def test_jobs_list_shows_every_job_with_its_next_run() -> None:
    schedule = JobSchedule()
    infos = {info.name: info for info in list_jobs(schedule, now=START + timedelta(minutes=1))}
    assert set(infos) == set(JOBS)
    assert infos["expire"].next_run == datetime(2026, 1, 7, 10, 15, tzinfo=UTC)
    assert infos["circle-summaries"].next_run == datetime(2026, 1, 12, 7, 0, tzinfo=UTC)
    with pytest.raises(KeyError, match="the jobs are"):
        run_job(JobContext(None, LendingRules()), "nope")  # type: ignore[arg-type]


def test_the_scheduler_has_every_job(sqlite_db: Database, rules: LendingRules) -> None:
    scheduler, leadership = build_scheduler(JobContext(sqlite_db.sessions, rules), sqlite_db.engine)
    assert {job.id for job in scheduler.get_jobs()} == set(JOBS)
    assert leadership.held()


@pytest.mark.postgres
def test_only_one_instance_holds_the_advisory_lock(postgres_db: Database) -> None:
    first, second = Leadership(postgres_db.engine), Leadership(postgres_db.engine)
    assert first.held()
    assert not second.held()
    first.release()
    assert second.held()
    second.release()


@pytest.mark.postgres
def test_leadership_ends_with_the_session_that_held_the_lock(postgres_db: Database) -> None:
    """After its session is killed the old leader knows it, and another instance takes over."""
    first, second = Leadership(postgres_db.engine), Leadership(postgres_db.engine)
    assert first.held() and not second.held()
    with postgres_db.engine.connect() as admin:
        holder = admin.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": ADVISORY_LOCK_KEY},
        ).scalar_one()
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
        # The backend ends (and its lock goes) a moment after it is told to.
        gone = text("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = :pid)")
        deadline = time.monotonic() + 10
        while not admin.execute(gone, {"pid": holder}).scalar_one():
            assert time.monotonic() < deadline, "the terminated backend lingers"
            # pg_stat_activity is read once per transaction: a new one sees it anew.
            admin.commit()
            time.sleep(0.05)
    assert second.held()
    assert not first.held()
    second.release()
    assert first.held()
