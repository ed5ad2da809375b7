"""Operator commands end to end: only admins act, everyone else is refused and nothing changes."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from bot.runtime.jobs import JobContext, run_job
from storage.db.database import Database
from storage.ledger.models import LedgerTransaction
from storage.lending.models import LenderMonth
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.notifications.models import Notification
from storage.projects.models import ImpactUpdate, Project, ProjectStatus
from storage.repayments.models import Repayment
from storage.repayments.report_import import import_repayments
from tests.factories import make_lender, make_project
from tests.harness import Harness, running_harness, text_of

ADMIN_ID = "U0000000001"  # the emulator numbers users in the order they are added


@pytest.fixture
def ops(sqlite_db: Database) -> Iterator[Harness]:
    with running_harness(sqlite_db, admins=frozenset({ADMIN_ID})) as running:
        yield running


@pytest.fixture
def people(ops: Harness) -> tuple[str, str]:
    admin, someone = ops.user("olga"), ops.user("sam")
    assert admin.id == ADMIN_ID
    return admin.id, someone.id


def funded_project(db: Database, rules: LendingRules) -> tuple[int, str]:
    """A 40 EUR project fully lent by two lenders."""
    project_id = make_project(db, 4_000)
    for _ in range(2):
        request = PledgeRequest(make_lender(db, team_id="T0000000001"), project_id, 2_000)
        assert pledge(db.sessions, request, rules, key=None).ok
    with db.sessions() as session:
        return project_id, session.get_one(Project, project_id).reference


def snapshot(harness: Harness) -> tuple[int, ...]:
    return tuple(
        harness.count(model) for model in (ImpactUpdate, Notification, Repayment, LedgerTransaction)
    )


def test_everyone_else_is_refused_politely_and_nothing_changes(
    ops: Harness, people: tuple[str, str], rules: LendingRules
) -> None:
    _admin, someone = people
    _project, reference = funded_project(ops.db, rules)
    before = snapshot(ops)
    for text in (
        "admin stats",
        f"admin update {reference} Harvest is in",
        f"admin repay {reference} 10",
        f"admin default {reference} flood",
        f"admin grant <@{someone}|sam> 1000",
        "admin",
    ):
        ops.command(someone, text)
        assert "only for the programme's administrators" in ops.reply_text(someone)
    assert snapshot(ops) == before
    assert ops.count(Project, Project.status == ProjectStatus.DEFAULTED) == 0


def test_stats(ops: Harness, people: tuple[str, str], rules: LendingRules) -> None:
    admin, _someone = people
    funded_project(ops.db, rules)
    ops.command(admin, "admin stats")
    answer = ops.reply_text(admin)
    assert "Lenders: 2" in answer and "Outstanding: €40.00" in answer


def test_impact_update_reaches_the_lenders(
    ops: Harness, people: tuple[str, str], rules: LendingRules
) -> None:
    admin, _someone = people
    _project, reference = funded_project(ops.db, rules)
    ops.command(
        admin, f"admin update {reference} The shop opened <!channel> photo <https://x.org/a.jpg>"
    )
    assert "2 lenders will hear" in ops.reply_text(admin)
    with ops.db.sessions() as session:
        update = session.query(ImpactUpdate).one()
        assert (update.text, update.photo_url) == (
            "The shop opened <!channel>",
            "https://x.org/a.jpg",
        )
    assert ops.count(Notification, Notification.kind == "impact") == 2
    ops.command(admin, "admin update NOPE text")
    assert "no project" in ops.reply_text(admin)


def test_repay_default_and_grant(
    ops: Harness, people: tuple[str, str], rules: LendingRules
) -> None:
    admin, someone = people
    project_id, reference = funded_project(ops.db, rules)
    ops.command(admin, f"admin repay {reference} 10 PARTNER-1")
    assert "€10.00 recorded" in ops.reply_text(admin)
    ops.command(admin, f"admin repay {reference} 10 PARTNER-1")  # the same reference again
    today = ops.services.clock().date().isoformat()
    again = ops.reply_text(admin)
    assert f"`PARTNER-1`) was already recorded on {today}; nothing was paid again" in again
    ops.command(admin, f"admin repay {reference} 5 PARTNER-1")  # the reference, reused
    reused = ops.reply_text(admin)
    assert "'PARTNER-1' was already used for a different repayment" in reused
    assert "repayment:" not in reused
    report = f"project,amount,date,reference\n{reference},5.00,{today},REPORT-1\n"
    import_repayments(ops.db.sessions, io.BytesIO(report.encode()), rules)
    ops.command(admin, f"admin repay {reference} 5 REPORT-1")  # recorded by a partner's report
    assert f"'REPORT-1' was already recorded on {today}" in ops.reply_text(admin)
    assert ops.count(Repayment) == 2
    ops.command(admin, f"admin repay {reference} ten")
    assert "The amount" in ops.reply_text(admin)
    ops.command(admin, f"admin default {reference} flood")
    assert "€25.00 lost" in ops.reply_text(admin)
    with ops.db.sessions() as session:
        assert session.get_one(Project, project_id).status == ProjectStatus.DEFAULTED
    ops.command(admin, f"admin grant <@{someone}|sam> 25 welcome")
    assert "available credit is now €25.00" in ops.reply_text(admin)
    ops.command(admin, "admin grant sam 25")
    assert "grant @someone" in ops.reply_text(admin)


def test_a_lender_is_told_of_a_grant_once_in_their_working_hours(
    ops: Harness, people: tuple[str, str]
) -> None:
    admin, someone = people
    asked = ops.command(admin, f"admin grant <@{someone}|sam> 50 welcome")
    ops.resend(asked, retry_num=1)  # Slack's retry: one grant, one message
    ops.deliver()
    [told] = ops.slack.dms(someone)
    assert "Your company gave you *€50.00* of credit to lend" in text_of(told)
    assert "Your available credit: *€50.00*" in text_of(told)


@pytest.mark.unreconciled
def test_operators_hear_by_dm_when_the_books_do_not_reconcile(
    ops: Harness, people: tuple[str, str], rules: LendingRules
) -> None:
    admin, _someone = people
    funded_project(ops.db, rules)
    with ops.db.sessions() as session, session.begin():
        session.execute(update(LenderMonth).values(new_money=LenderMonth.new_money + 1))
    context = JobContext(ops.db.sessions, rules, operators=frozenset({admin}))
    run_job(context, "reconcile")
    ops.deliver()
    [alert] = ops.slack.dms(admin)
    text = text_of(alert)
    assert "The books do not reconcile" in text and "*monthly_cap*" in text
    assert "2 rows break it" in text and "microlend check" in text
