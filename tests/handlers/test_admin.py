"""Operator commands end to end: only admins act, everyone else is refused and nothing changes."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from bot.devtools.emulator import Message
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
from tests.handlers.test_circles import forged
from tests.harness import Harness, button_values, running_harness, text_of

ADMIN_ID = "U0000000001"  # the emulator numbers users in the order they are added
SECOND_ADMIN_ID = "U0000000002"


@pytest.fixture
def ops(db: Database) -> Iterator[Harness]:
    with running_harness(db, admins=frozenset({ADMIN_ID, SECOND_ADMIN_ID})) as running:
        yield running


@pytest.fixture
def people(ops: Harness) -> tuple[str, str]:
    admin, other_admin, someone = ops.user("olga"), ops.user("omar"), ops.user("sam")
    assert (admin.id, other_admin.id) == (ADMIN_ID, SECOND_ADMIN_ID)
    return admin.id, someone.id


def confirm(ops: Harness, admin: str, text: str) -> str:
    """Run an operator command and click the Confirm of the confirmation it shows."""
    ops.command(admin, text)
    ops.click(admin, "admin_confirm", within=ops.reply(admin))
    return ops.reply_text(admin)


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
    assert "€10.00 recorded" in confirm(ops, admin, f"admin repay {reference} 10 PARTNER-1")
    ops.command(admin, f"admin repay {reference} 10 PARTNER-1")  # the same reference again
    today = ops.services.clock().date().isoformat()
    again = ops.reply_text(admin)
    assert f"'PARTNER-1' was already recorded on {today}; nothing was paid again" in again
    assert not button_values(ops.reply(admin), "admin_confirm")
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
    assert "€25.00 lost" in confirm(ops, admin, f"admin default {reference} flood")
    with ops.db.sessions() as session:
        assert session.get_one(Project, project_id).status == ProjectStatus.DEFAULTED
    granted = confirm(ops, admin, f"admin grant <@{someone}|sam> 25 welcome")
    assert f"Granted €25.00 to <@{someone}>; their available credit is now €25.00" in granted
    ops.command(admin, "admin grant sam 25")
    assert "grant @someone" in ops.reply_text(admin)


def test_a_grant_shows_whose_credit_how_much_and_the_dm_before_anything_moves(
    ops: Harness, people: tuple[str, str]
) -> None:
    admin, someone = people
    before = snapshot(ops)
    asked = ops.command(admin, f"admin grant <@{someone}|sam> 50 welcome <!channel>")
    ops.resend(asked, retry_num=1)  # Slack's retry only asks again
    question = ops.reply_text(admin)
    assert f"*Grant €50.00 to <@{someone}>?*" in question
    assert "they are told by DM in their working hours" in question
    assert "Reason: welcome &lt;!channel&gt;" in question
    assert "Nothing moves until you confirm" in question
    assert snapshot(ops)[1:] == before[1:]
    ops.click(admin, "admin_cancel")
    assert "Cancelled: nothing changed" in ops.reply_text(admin)
    assert snapshot(ops)[1:] == before[1:]


def test_a_confirmed_grant_is_made_once_however_often_it_is_clicked(
    ops: Harness, people: tuple[str, str]
) -> None:
    admin, someone = people
    ops.command(admin, f"admin grant <@{someone}|sam> 50")
    question = copy.deepcopy(ops.reply(admin))  # as it was before the answer replaced it
    click = ops.click(admin, "admin_confirm", within=question)
    assert ops.reply_text(admin).startswith(f"Granted €50.00 to <@{someone}>")
    ops.resend(click, retry_num=1)  # Slack's retry
    ops.click(admin, "admin_confirm", within=question)  # a double click
    assert f"Already done: €50.00 was granted to <@{someone}>" in ops.reply_text(admin)
    assert ops.count(LedgerTransaction, LedgerTransaction.kind == "grant") == 1
    ops.deliver()
    assert len(ops.slack.dms(someone)) == 1


def now_reads(ops: Harness, admin: str, question: Message) -> str:
    """What the confirmation says now: the answer to its button replaces it."""
    [answer] = [m for m in ops.ephemerals(admin) if m.ts == question.ts]
    return text_of(answer)


def changed(message: Message, **values: object) -> str:
    value = json.loads(button_values(message, "admin_confirm")[0])
    return json.dumps({**value, **values})


@pytest.mark.parametrize(
    "change", [{"a": 50_000}, {"u": "U0000000009"}, {"n": "other"}, {"i": "0" * 32}, {"o": "x"}]
)
def test_a_forged_confirmation_is_refused_and_changes_nothing(
    ops: Harness, people: tuple[str, str], change: dict[str, object]
) -> None:
    admin, someone = people
    ops.command(admin, f"admin grant <@{someone}|sam> 50")
    question = ops.reply(admin)
    before = snapshot(ops)
    ops.click(
        admin,
        "admin_confirm",
        within=forged(question, "admin_confirm", changed(question, **change)),
    )
    answer = ops.reply_text(admin)
    assert "does not match anything you were asked to confirm" in answer or "not valid" in answer
    assert snapshot(ops) == before


def test_only_the_admin_who_was_asked_confirms_and_only_while_an_admin(
    ops: Harness, people: tuple[str, str]
) -> None:
    admin, someone = people
    ops.command(admin, f"admin grant <@{someone}|sam> 50")
    question = copy.deepcopy(ops.reply(admin))
    before = snapshot(ops)
    ops.click(SECOND_ADMIN_ID, "admin_confirm", within=question)
    assert "does not match anything you were asked" in now_reads(ops, admin, question)
    ops.click(someone, "admin_confirm", within=question)
    assert "only for the programme's administrators" in now_reads(ops, admin, question)
    assert snapshot(ops) == before


def test_a_repayment_confirmation_names_the_lenders_and_a_full_repayment(
    ops: Harness, people: tuple[str, str], rules: LendingRules
) -> None:
    admin, _someone = people
    project_id, reference = funded_project(ops.db, rules)
    ops.command(admin, f"admin repay {reference} 10")
    part = ops.reply_text(admin)
    assert f"*Record a repayment of €10.00 for {reference}?*" in part
    assert "shared among its 2 lenders" in part and "each is told by DM" in part
    assert "€30.00 will still be outstanding" in part
    ops.command(admin, f"admin repay {reference} 40")
    assert f"It repays the loan in full: {reference} will close as repaid" in ops.reply_text(admin)
    assert ops.count(Repayment) == 0
    ops.click(admin, "admin_confirm", within=ops.reply(admin))
    assert "the loan is now repaid" in ops.reply_text(admin)
    with ops.db.sessions() as session:
        assert session.get_one(Project, project_id).status == ProjectStatus.REPAID


def test_a_default_confirmation_states_the_loss_and_who_is_told(
    ops: Harness, people: tuple[str, str], rules: LendingRules
) -> None:
    admin, _someone = people
    _project, reference = funded_project(ops.db, rules)
    ops.command(admin, f"admin default {reference} flood")
    question = ops.reply(admin)
    text = text_of(question)
    assert f"*Mark {reference} as defaulted?*" in text
    assert "The €40.00 still outstanding is written off: its 2 lenders lose €40.00" in text
    assert "They are told by DM" in text and "Reason: flood" in text
    assert ops.count(Project, Project.status == ProjectStatus.DEFAULTED) == 0
    ops.click(admin, "admin_cancel", within=question)
    assert ops.count(Project, Project.status == ProjectStatus.DEFAULTED) == 0


def test_a_confirmation_whose_figures_changed_is_refused(
    ops: Harness, people: tuple[str, str], rules: LendingRules
) -> None:
    admin, _someone = people
    _project, reference = funded_project(ops.db, rules)
    ops.command(admin, f"admin default {reference}")
    to_default = ops.reply(admin)
    assert "€10.00 recorded" in confirm(ops, admin, f"admin repay {reference} 10")  # meanwhile
    before = snapshot(ops)
    ops.click(admin, "admin_confirm", within=to_default)
    assert "The figures have changed since you were asked" in now_reads(ops, admin, to_default)
    assert snapshot(ops) == before
    assert ops.count(Project, Project.status == ProjectStatus.DEFAULTED) == 0


def test_a_lender_is_told_of_a_grant_once_in_their_working_hours(
    ops: Harness, people: tuple[str, str]
) -> None:
    admin, someone = people
    confirm(ops, admin, f"admin grant <@{someone}|sam> 50 welcome")
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


def test_an_unknown_operator_command_is_named_in_the_help(ops: Harness) -> None:
    admin = ops.user("admin")
    ops.command(admin.id, "admin frobnicate <!channel>")
    text = ops.reply_text(admin.id)
    assert "“frobnicate” is not an operator command." in text and "/lend admin" in text


def test_a_repayment_confirmation_is_bound_to_its_reference(
    ops: Harness, people: tuple[str, str], rules: LendingRules
) -> None:
    admin, _someone = people
    _project_id, reference = funded_project(ops.db, rules)
    ops.command(admin, f"admin repay {reference} 10 PAY-1")
    question = ops.reply(admin)
    before = snapshot(ops)
    ops.click(
        admin, "admin_confirm", within=forged(question, "admin_confirm", changed(question, n="X"))
    )
    assert "does not match anything you were asked to confirm" in ops.reply_text(admin)
    assert snapshot(ops) == before


@pytest.mark.parametrize("typed", ["10 EUR", "10,00 €", "€ 10", "10"])
def test_operators_type_amounts_as_lenders_do(
    ops: Harness, people: tuple[str, str], rules: LendingRules, typed: str
) -> None:
    admin, someone = people
    _project_id, reference = funded_project(ops.db, rules)
    ops.command(admin, f"admin repay {reference} {typed}")
    repay = ops.reply_text(admin)
    assert f"*Record a repayment of €10.00 for {reference}?*" in repay
    assert "reference" not in repay.split("?*", 1)[1].lower().split("lenders")[0]
    ops.command(admin, f"admin grant <@{someone}|sam> {typed} welcome")
    grant = ops.reply_text(admin)
    assert "€10.00" in grant and "Reason: welcome" in grant


def test_a_long_reason_in_any_script_fits_the_confirm_button(
    ops: Harness, people: tuple[str, str]
) -> None:
    admin, someone = people
    for reason in ("🎉" * 300, "مرحبا " * 200, "é" * 600):
        ops.command(admin, f"admin grant <@{someone}|sam> 10 {reason}")
        question = ops.reply(admin)
        (value,) = button_values(question, "admin_confirm")
        assert len(value) <= 2_000 and "Grant €10.00" in text_of(question)


def test_a_repayment_without_a_reference_never_shows_one_made_up(
    ops: Harness, people: tuple[str, str], rules: LendingRules
) -> None:
    admin, _someone = people
    _project_id, reference = funded_project(ops.db, rules)
    ops.command(admin, f"admin repay {reference} 10")
    question = copy.deepcopy(ops.reply(admin))
    ops.click(admin, "admin_confirm", within=question)
    ops.click(admin, "admin_confirm", within=question)  # a double click: told, not repaid
    answer = now_reads(ops, admin, question)
    assert "slack:" not in answer
