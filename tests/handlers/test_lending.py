"""/lend's lending subcommands, buttons and modals, end to end through the emulator."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, event, select

from bot.devtools.emulator import Message
from bot.runtime.delivery import DeliverySettings, DeliveryWorker
from bot.runtime.send_limiter import RateLimits, WorkspaceRateLimiter
from bot.runtime.slack_client import SlackClient
from handlers.lending import PledgeIntent
from storage.circles.models import Circle
from storage.db.clock import utcnow
from storage.lending.credit import grant_credit
from storage.lending.lenders import SlackIdentity, choose_preferences, find_lender
from storage.lending.models import Lender, NotifyMode, PayoutRequest, Pledge
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.lifecycle import expire_due_projects
from storage.projects.models import Project, ProjectStatus
from storage.repayments.recording import RepaymentInput, record_repayment
from tests.factories import make_project
from tests.harness import Harness, button_values, text_of

TEAM = "T0EMULATOR"


# The table an INSERT, UPDATE or DELETE writes to.
WRITE = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


def lender_of(harness: Harness, user_id: str) -> Lender:
    with harness.db.sessions() as session:
        found = find_lender(session, SlackIdentity(user_id, TEAM))
        assert found is not None
        return found


def grant(harness: Harness, user_id: str, cents: int) -> None:
    harness.command(user_id, "credit")  # the lender exists once they have spoken to the app
    lender = lender_of(harness, user_id)
    outcome = grant_credit(harness.db.sessions, lender.id, cents, key=f"g{user_id}", reason="t")
    assert outcome.ok


def reference(harness: Harness, project_id: int) -> str:
    with harness.db.sessions() as session:
        project = session.get(Project, project_id)
        assert project is not None
        return project.reference


def test_browse_shows_cards_with_lend_buttons_and_pages(harness: Harness) -> None:
    ids = [make_project(harness.db, country="Peru") for _ in range(7)]
    alice = harness.user("alice")
    harness.command(alice.id, "browse")
    first = harness.reply(alice.id)
    assert len(button_values(first, "lend")) == 5
    assert "0% of €1,000.00" in text_of(first) and "days left" in text_of(first)
    harness.click(alice.id, "browse_next", within=first)
    second = harness.reply(alice.id)
    assert second.ts == first.ts  # the page was replaced, not added
    shown = {json.loads(v)["project"] for v in button_values(second, "lend")}
    assert len(shown) == 2 and shown < set(ids)
    assert button_values(second, "browse_next") == []


def test_browse_filters_match_any_case_and_unknown_words_list_choices(harness: Harness) -> None:
    make_project(harness.db, country="Peru", sector="Agriculture", women=0)
    wanted = make_project(harness.db, country="Burkina Faso", sector="Retail", women=1)
    alice = harness.user("alice")
    harness.command(alice.id, "browse BURKINA-faso retail WOMEN")
    values = button_values(harness.reply(alice.id), "lend")
    assert [json.loads(v)["project"] for v in values] == [wanted]
    harness.command(alice.id, "browse narnia")
    answer = harness.reply_text(alice.id)
    assert "I don't know the filter `narnia`" in answer
    assert "Burkina Faso, Peru" in answer and "Agriculture, Retail" in answer


def test_browse_almost_funded_and_ending_soon(harness: Harness) -> None:
    soon = make_project(harness.db, deadline=utcnow() + timedelta(days=2))
    make_project(harness.db)
    alice = harness.user("alice")
    harness.command(alice.id, "browse ending-soon")
    assert [json.loads(v)["project"] for v in button_values(harness.reply(alice.id), "lend")] == [
        soon
    ]
    harness.command(alice.id, "browse almost-funded")
    assert "No open project matches" in harness.reply_text(alice.id)


def test_project_card_tells_the_story(harness: Harness) -> None:
    project_id = make_project(harness.db, term_months=6)
    alice = harness.user("alice")
    harness.command(alice.id, f"project {reference(harness, project_id).lower()}")
    text = harness.reply_text(alice.id)
    for expected in ("Cusco", "Farming", "*Schedule*", "Nobody yet: be the first", "*Circles"):
        assert expected in text
    # Nothing is repaid on a loan still raising money, so nothing says "Repaid €0.00 of …".
    assert "*Repaid*" not in text and "0 colleagues" not in text


def test_a_lent_project_shows_what_is_repaid_of_the_loan(harness: Harness) -> None:
    project_id = make_project(harness.db, amount=4_000)
    alice = harness.user("alice")
    grant(harness, alice.id, 4_000)
    lender = lender_of(harness, alice.id).id
    assert pledge(
        harness.db.sessions, PledgeRequest(lender, project_id, 4_000), LendingRules(), key="whole"
    ).ok
    paid = RepaymentInput(project_id, 1_000, utcnow().date(), "R-1")
    assert record_repayment(harness.db.sessions, paid, LendingRules()).ok
    harness.command(alice.id, f"project {reference(harness, project_id)}")
    text = harness.reply_text(alice.id)
    assert "*Repaid*\n€10.00 of €40.00" in text and "1 colleague" in text


def test_a_closed_project_nobody_lent_to_does_not_invite_lending(harness: Harness) -> None:
    project_id = make_project(harness.db, deadline=utcnow() + timedelta(hours=1))
    expire_due_projects(harness.db.sessions, now=utcnow() + timedelta(hours=2))
    alice = harness.user("alice")
    harness.command(alice.id, f"project {reference(harness, project_id)}")
    text = harness.reply_text(alice.id)
    assert "*Lenders*\nNone" in text and "be the first" not in text


def test_a_project_names_its_sector_only_when_it_says_more_than_the_activity(
    harness: Harness,
) -> None:
    same = make_project(harness.db, sector="Agriculture", activity="Agriculture")
    other = make_project(harness.db, sector="Agriculture", activity="Farming")
    alice = harness.user("alice")
    harness.command(alice.id, f"project {reference(harness, same)}")
    assert "works in Agriculture and" in harness.reply_text(alice.id)
    harness.command(alice.id, f"project {reference(harness, other)}")
    assert "works in Farming (Agriculture) and" in harness.reply_text(alice.id)
    harness.command(alice.id, "project NOPE")
    assert "There is no project “NOPE”" in harness.reply_text(alice.id)


def test_pledge_command_confirms_then_lends_once_on_double_click(harness: Harness) -> None:
    project_id = make_project(harness.db, amount=10_000)
    alice = harness.user("alice")
    grant(harness, alice.id, 1_500)
    harness.command(alice.id, f"pledge {reference(harness, project_id)} 25")
    confirmation = harness.reply(alice.id)
    text = text_of(confirmation)
    assert "€15.00 from your available credit" in text
    assert "€10.00 of new money" in text and "still need €75.00" in text
    assert harness.count(Pledge) == 0  # nothing moves before the confirmation
    click = harness.click(alice.id, "pledge_confirm", within=confirmation)
    harness.resend(click)  # the second click of a double click: the same button again
    assert harness.count(Pledge) == 1
    assert "nothing more was lent" in harness.reply_text(alice.id)
    with harness.db.sessions() as session:
        assert session.get(Project, project_id).funded == 2_500  # type: ignore[union-attr]
    assert harness.home(alice.id)  # the Home tab was refreshed after the pledge


@contextmanager
def write_transactions(engine: Engine) -> Iterator[list[set[str]]]:
    """The tables each committed transaction wrote to, one set per transaction, in order."""
    open_writes: dict[int, set[str]] = {}
    committed: list[set[str]] = []

    def on_execute(connection: Connection, _cursor: object, statement: str, *_args: object) -> None:
        written = WRITE.match(statement)
        if written:
            open_writes.setdefault(id(connection), set()).add(written.group(1).lower())

    def on_commit(connection: Connection) -> None:
        tables = open_writes.pop(id(connection), None)
        if tables:
            committed.append(tables)

    def on_rollback(connection: Connection) -> None:
        open_writes.pop(id(connection), None)

    listeners: dict[str, Callable[..., None]] = {
        "before_cursor_execute": on_execute,
        "commit": on_commit,
        "rollback": on_rollback,
    }
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        yield committed
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)


def test_a_pledge_confirm_is_one_write_transaction(harness: Harness) -> None:
    project_id = make_project(harness.db, amount=10_000)
    alice = harness.user("alice")
    harness.command(alice.id, f"pledge {reference(harness, project_id)} 25")
    confirmation = harness.reply(alice.id)
    with write_transactions(harness.db.engine) as committed:
        harness.click(alice.id, "pledge_confirm", within=confirmation)
        harness.settle()
    # Besides the pledge, only the record of the accepted click (written before the ack,
    # deleted once answered) is written.
    operations = [tables for tables in committed if tables != {"accepted_work"}]
    assert len(operations) == 1, committed
    assert {"pledges", "postings", "accounts"} <= operations[0]
    assert harness.count(Pledge) == 1


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("pledge {ref} abc", "as a number"),
        ("pledge {ref} -5", "positive amount"),
        ("pledge {ref} 20.001", "at most two decimals"),
        ("pledge {ref} $20", "not USD"),
        ("pledge {ref} 5000", "pledge at most €100.00"),
        ("pledge {ref}", "like `/lend pledge"),
        ("pledge NOPE 20", "There is no project “NOPE”"),
    ],
)
def test_pledge_errors_name_the_rule(harness: Harness, text: str, rule: str) -> None:
    ref = reference(harness, make_project(harness.db, amount=10_000))
    alice = harness.user("alice")
    harness.command(alice.id, text.format(ref=ref))
    assert rule in harness.reply_text(alice.id)
    assert harness.count(Pledge) == 0


def test_a_pledge_below_the_minimum_is_refused_with_the_rule_before_confirmation(
    harness: Harness,
) -> None:
    ref = reference(harness, make_project(harness.db, amount=10_000))
    alice = harness.user("alice")
    harness.command(alice.id, f"pledge {ref} 5")
    assert "smallest pledge is €20.00" in harness.reply_text(alice.id)
    assert not button_values(harness.reply(alice.id), "pledge_confirm")
    assert harness.count(Pledge) == 0


def test_cancel_moves_nothing(harness: Harness) -> None:
    ref = reference(harness, make_project(harness.db))
    alice = harness.user("alice")
    harness.command(alice.id, f"pledge {ref} 20")
    harness.click(alice.id, "pledge_cancel")
    assert harness.reply_text(alice.id).startswith("Cancelled")
    assert harness.count(Pledge) == 0


def test_lend_button_modal_confirms_and_pledges_once(harness: Harness) -> None:
    project_id = make_project(harness.db, amount=10_000)
    alice = harness.user("alice")
    harness.command(alice.id, "browse")
    harness.click(alice.id, "lend")
    modal = harness.modal(alice.id)
    amount_input = next(b for b in modal.blocks if b.get("block_id") == "amount")
    assert amount_input["element"]["initial_value"] == "€20.00"
    assert "available credit first" in text_of(modal)
    harness.submit(alice.id, {"amount": "30"})
    confirm = harness.modal(alice.id)
    assert confirm.callback_id == "pledge_confirm_modal"
    assert "€30.00 of new money" in text_of(confirm)
    submitted = harness.submit(alice.id)
    harness.resend(submitted)  # a double submit: the same intent again
    assert harness.count(Pledge, Pledge.project_id == project_id) == 1
    assert "Thank you" in text_of(harness.modal(alice.id))
    assert "you lent €30.00" in text_of(harness.home(alice.id))


def test_modal_amount_errors_stay_in_the_modal(harness: Harness) -> None:
    make_project(harness.db, amount=10_000)
    alice = harness.user("alice")
    harness.command(alice.id, "browse")
    harness.click(alice.id, "lend")
    harness.submit(alice.id, {"amount": "lots"})
    assert "as a number" in harness.modal(alice.id).errors["amount"]
    harness.submit(alice.id, {"amount": "500"})
    assert "needs only €100.00" in harness.modal(alice.id).errors["amount"]
    assert harness.count(Pledge) == 0


def test_lend_button_on_a_closed_project_says_so(harness: Harness) -> None:
    project_id = make_project(harness.db)
    alice = harness.user("alice")
    harness.command(alice.id, "browse")
    with harness.db.sessions() as session, session.begin():
        session.get(Project, project_id).status = ProjectStatus.EXPIRED  # type: ignore[union-attr]
    harness.click(alice.id, "lend")
    assert "no longer raising money" in text_of(harness.modal(alice.id))


def test_forged_button_values_are_rechecked(harness: Harness) -> None:
    alice = harness.user("alice")
    harness.command(alice.id, "help")
    for value in ['{"project": 999}', "not json", '{"project": "1; DROP"}']:
        harness.sender._send_action(  # what a hand-made payload would send
            alice.id,
            harness.reply(alice.id),
            {"type": "button", "action_id": "lend", "block_id": "b", "value": value},
            None,
        )
        harness.settle()
        assert "no longer raising money" in text_of(harness.modal(alice.id))
    assert harness.count(Pledge) == 0


def test_portfolio_lists_loans_and_impact(harness: Harness) -> None:
    first = make_project(harness.db, amount=2_000, country="Peru")
    make_project(harness.db, amount=10_000, country="Senegal")
    alice = harness.user("alice")
    harness.command(alice.id, f"pledge {reference(harness, first)} 20")
    harness.click(alice.id, "pledge_confirm")
    harness.command(alice.id, "portfolio")
    text = harness.reply_text(alice.id)
    assert "€20.00 in 1 loan" in text and "funded" in text
    assert "1, 1 women" in text
    # Their own share of the first of twelve instalments of the 20 EUR loan they funded alone.
    assert "next €1.67 expected by" in text


def test_a_pledge_to_a_project_that_expired_says_what_came_back(harness: Harness) -> None:
    # Two loans and two pledges to projects that closed unfunded: the counts above the list
    # add up to the list, and each refunded pledge says what was pledged and where it went.
    alice = harness.user("alice")
    grant(harness, alice.id, 20_000)
    for amount in (3_000, 4_000):
        project_id = make_project(harness.db, amount=amount)
        harness.command(alice.id, f"pledge {reference(harness, project_id)} {amount // 100}")
        harness.click(alice.id, "pledge_confirm")
    for amount in (3_000, 4_000):
        expiring = make_project(harness.db, deadline=utcnow() + timedelta(hours=1))
        harness.command(alice.id, f"pledge {reference(harness, expiring)} {amount // 100}")
        harness.click(alice.id, "pledge_confirm")
    expire_due_projects(harness.db.sessions, now=utcnow() + timedelta(hours=2))
    harness.command(alice.id, "portfolio")
    text = harness.reply_text(alice.id)
    assert "€70.00 in 2 loans" in text and "2 pledges to unfunded projects came back" in text
    assert text.count("you pledged €30.00: the project was not fully funded in time") == 1
    assert text.count("you pledged €40.00: the project was not fully funded in time") == 1
    assert "you lent €0.00" not in text
    harness.open_home(alice.id)
    home = text_of(harness.home(alice.id))
    assert "€70.00 in 2 loans" in home and "you lent €0.00" not in home
    assert home.count("came back to your credit") == 2


def test_credit_withdraw_button_and_command(harness: Harness) -> None:
    alice = harness.user("alice")
    grant(harness, alice.id, 5_000)
    harness.command(alice.id, "credit")
    card = harness.reply(alice.id)
    assert "Available credit: €50.00" in text_of(card)
    asked = harness.command(alice.id, "withdraw 10")
    for retry in (1, 2):
        harness.resend(asked, retry_num=retry)  # a replayed command only asks again
    assert harness.count(PayoutRequest) == 0
    assert "*Withdraw €10.00* of your €50.00 available credit?" in harness.reply_text(alice.id)
    confirm = harness.click(alice.id, "withdraw_confirm")
    harness.resend(confirm)  # a double click or a replay: one withdrawal
    assert harness.count(PayoutRequest) == 1
    assert "€10.00 is on its way" in harness.reply_text(alice.id)
    # The card's dialog said €50.00; €40.00 is left: it withdraws what it said or nothing.
    assert "€50.00 of your available credit will be paid back" in json.dumps(
        card.blocks, ensure_ascii=False
    )
    harness.click(alice.id, "withdraw_all", within=card)
    assert "at most €40.00" in text_of(card) and harness.count(PayoutRequest) == 1
    harness.command(alice.id, "credit")
    fresh = harness.reply(alice.id)
    click = harness.click(alice.id, "withdraw_all", within=fresh)
    harness.resend(click)  # double click: one withdrawal
    assert "€40.00 is on its way" in text_of(fresh)  # the credit card was replaced
    assert harness.count(PayoutRequest) == 2
    harness.command(alice.id, "withdraw all")
    assert "no available credit" in harness.reply_text(alice.id)
    harness.command(alice.id, "withdraw lots")
    assert "as a number" in harness.reply_text(alice.id)


@pytest.mark.parametrize("typed", ["20 EUR", "20,00 €", "€ 20", "20"])
def test_an_amount_with_a_space_in_it_is_one_amount(harness: Harness, typed: str) -> None:
    ref = reference(harness, make_project(harness.db, amount=10_000))
    alice = harness.user("alice")
    grant(harness, alice.id, 5_000)
    harness.command(alice.id, f"pledge {ref} {typed}")
    assert "€20.00 from your available credit" in harness.reply_text(alice.id)
    harness.command(alice.id, f"withdraw {typed}")
    assert "*Withdraw €20.00* of your €50.00 available credit?" in harness.reply_text(alice.id)


def test_two_numbers_are_not_one_amount(harness: Harness) -> None:
    ref = reference(harness, make_project(harness.db, amount=100_000))
    alice = harness.user("alice")
    harness.command(alice.id, f"pledge {ref} 20 300")
    assert "Give one amount" in harness.reply_text(alice.id)
    harness.command(alice.id, "withdraw 20 300")
    assert "Give one amount" in harness.reply_text(alice.id)
    assert harness.count(Pledge) == 0


def test_relend_button_browses(harness: Harness) -> None:
    make_project(harness.db)
    alice = harness.user("alice")
    grant(harness, alice.id, 5_000)
    harness.command(alice.id, "credit")
    harness.click(alice.id, "relend")
    assert button_values(harness.reply(alice.id), "lend")


def test_autolend_is_stored(harness: Harness) -> None:
    make_project(harness.db, country="Peru", sector="Agriculture")
    alice = harness.user("alice")
    harness.command(alice.id, "autolend on peru")
    assert "Auto-lending is on" in harness.reply_text(alice.id)
    lender = lender_of(harness, alice.id)
    assert (lender.autolend, lender.autolend_country, lender.autolend_sector) == (
        True,
        "Peru",
        None,
    )
    harness.command(alice.id, "autolend on atlantis")
    assert "atlantis" in harness.reply_text(alice.id)
    harness.command(alice.id, "autolend off")
    assert lender_of(harness, alice.id).autolend is False
    harness.command(alice.id, "autolend maybe")
    assert "autolend on" in harness.reply_text(alice.id)


def test_settings_modal_saves_preferences(harness: Harness) -> None:
    alice = harness.user("alice")
    harness.command(alice.id, "settings")
    assert harness.modal(alice.id).callback_id == "settings_modal"
    harness.submit(alice.id, {"notify": "weekly", "start": "480", "end": "960", "days": ["0", "2"]})
    lender = lender_of(harness, alice.id)
    assert (lender.notify_mode.value, lender.work_start_minute, lender.work_end_minute) == (
        "weekly",
        480,
        960,
    )
    assert lender.work_days == 0b101
    # The modal says what was saved, as the lender will read it.
    saved = text_of(harness.modal(alice.id))
    assert "*Saved.* Tell me about my loans: *Weekly digest*." in saved
    assert "Working hours: 08:00 to 16:00 (UTC) on Mon, Wed." in saved


def test_settings_errors_when_hours_are_backwards(harness: Harness) -> None:
    alice = harness.user("alice")
    harness.command(alice.id, "settings")
    harness.submit(alice.id, {"notify": "daily", "start": "900", "end": "540", "days": ["0"]})
    assert "start before they end" in harness.modal(alice.id).errors["end"]
    assert lender_of(harness, alice.id).work_start_minute == 9 * 60


def test_lenders_are_scoped_to_their_workspace(harness: Harness) -> None:
    alice = harness.user("alice")
    grant(harness, alice.id, 5_000)
    with harness.db.sessions() as session:
        other = find_lender(session, SlackIdentity(alice.id, "T0OTHER"))
        lenders = session.execute(select(Lender.slack_user_id)).scalars().all()
    assert other is None and lenders == [alice.id]


def test_a_notifications_buttons_are_answered_by_the_app(harness: Harness) -> None:
    """The Re-lend, Withdraw and Lend buttons that DMs carry open what they promise."""
    alice = harness.user("alice", tz="UTC")
    grant(harness, alice.id, 30_00)
    always = choose_preferences(
        harness.db.sessions,
        lender_of(harness, alice.id).id,
        notify_mode=NotifyMode.AS_IT_HAPPENS,
        work_start_minute=0,
        work_end_minute=24 * 60,
        work_days=0b1111111,
    )
    assert always.ok
    project_id = make_project(harness.db, amount=10_000, deadline=utcnow() + timedelta(hours=1))
    make_project(harness.db, amount=10_000)
    harness.command(alice.id, f"pledge {reference(harness, project_id)} 20")
    harness.click(alice.id, "pledge_confirm")
    later = utcnow() + timedelta(hours=2)
    expire_due_projects(harness.db.sessions, now=later)
    worker = DeliveryWorker(
        harness.db.sessions,
        SlackClient(harness.slack.client()),
        WorkspaceRateLimiter(RateLimits(per_minute=60_000)),
        settings=DeliverySettings(senders=1, idle_seconds=0.01),
        clock=lambda: later,
    )
    worker.drain()
    [message] = [m for m in harness.slack.dms(alice.id) if "back in your credit" in text_of(m)]
    # Folded with the grant's news; nothing was repaid, so the line does not say "€0.00 came back".
    assert message.text == "Your microlend news"
    harness.click(alice.id, "credit_open", within=message)
    assert "€30.00" in harness.reply_text(alice.id)
    assert button_values(harness.reply(alice.id), "withdraw_all")
    harness.click(alice.id, "relend", within=message)
    assert "Open projects" in harness.reply_text(alice.id)
    harness.click(alice.id, "lend", within=message)
    assert harness.modal(alice.id).callback_id == "pledge_modal"


@pytest.mark.parametrize("circle", [True, "7", 1.5, [7]])
def test_a_pledge_intent_refuses_a_circle_that_is_not_an_id(circle: object) -> None:
    value = json.dumps({"p": 1, "a": 2_000, "c": circle, "i": uuid.uuid4().hex})
    assert PledgeIntent.from_value(value) is None
    assert PledgeIntent.from_value(value.replace(json.dumps(circle), "7")) is not None


def _circle_in(harness: Harness, lead: str, member: str) -> tuple[str, int]:
    channel = harness.channel("team-andes", [lead, member])
    harness.command(lead, "circle create Team *Andes*", channel)
    harness.command(member, "circle join", channel)
    with harness.db.sessions() as session:
        circle_id = session.execute(select(Circle.id)).scalar_one()
    return channel, circle_id


def _pledged_circles(harness: Harness) -> list[int | None]:
    with harness.db.sessions() as session:
        return list(session.execute(select(Pledge.circle_id).order_by(Pledge.id)).scalars())


def test_a_pledge_in_a_circles_channel_counts_for_it_and_says_so(harness: Harness) -> None:
    lead, ana = harness.user("lea"), harness.user("ana")
    channel, circle_id = _circle_in(harness, lead.id, ana.id)
    project_id = make_project(harness.db, amount=10_000)
    grant(harness, ana.id, 5_000)
    harness.command(ana.id, f"pledge {reference(harness, project_id)} 25", channel)
    confirmation = text_of(harness.reply(ana.id))
    # The name is shown as written, its own asterisks (lookalikes now) unable to end the bold.
    shown = "Team \u2217Andes\u2217"
    assert f"It counts for the circle *{shown}*" in confirmation
    harness.click(ana.id, "pledge_confirm")
    assert f"It counts for the circle *{shown}*." in harness.reply_text(ana.id)
    assert _pledged_circles(harness) == [circle_id]


def test_the_lender_may_count_a_pledge_for_no_circle_and_still_lends_once(
    harness: Harness,
) -> None:
    lead, ana = harness.user("lea"), harness.user("ana")
    channel, _circle_id = _circle_in(harness, lead.id, ana.id)
    project_id = make_project(harness.db, amount=10_000)
    grant(harness, ana.id, 5_000)
    harness.command(ana.id, f"pledge {reference(harness, project_id)} 25", channel)
    confirmation = copy.deepcopy(harness.reply(ana.id))  # the message is replaced in place
    (none,) = [
        option["value"]
        for block in confirmation.blocks
        for element in block.get("elements", [])
        if element.get("action_id") == "pledge_circle"
        for option in element["options"]
        if option["text"]["text"] == "No circle"
    ]
    harness.click(ana.id, "pledge_circle", none)
    assert "It counts for no circle" in harness.reply_text(ana.id)
    harness.click(ana.id, "pledge_confirm")
    harness.click(ana.id, "pledge_confirm", within=confirmation)  # the first version, replayed
    assert _pledged_circles(harness) == [None]
    replayed = harness.reply_text(ana.id)  # the old copy's answer: what was done, once
    assert "You lent €25.00" in replayed and "nothing more was lent" in replayed
    assert "key" not in replayed and "circle" not in replayed


def test_a_pledge_elsewhere_or_by_a_non_member_counts_for_no_circle(harness: Harness) -> None:
    lead, ana, bea = harness.user("lea"), harness.user("ana"), harness.user("bea")
    channel, _circle_id = _circle_in(harness, lead.id, ana.id)
    project_id = make_project(harness.db, amount=10_000)
    for user in (ana, bea):
        grant(harness, user.id, 5_000)
    harness.command(ana.id, f"pledge {reference(harness, project_id)} 25")  # not in the channel
    assert "It counts for no circle" in harness.reply_text(ana.id)
    harness.command(bea.id, f"pledge {reference(harness, project_id)} 25", channel)
    assert "circle" not in harness.reply_text(bea.id)


def test_lend_on_a_circle_post_preselects_the_channels_circle(harness: Harness) -> None:
    lead, ana = harness.user("lea"), harness.user("ana")
    channel, circle_id = _circle_in(harness, lead.id, ana.id)
    project_id = make_project(harness.db, amount=10_000)
    harness.command(lead.id, f"circle feature {reference(harness, project_id)}", channel)
    harness.click(ana.id, "lend", within=harness.slack.messages(channel)[-1])
    modal = harness.modal(ana.id).to_slack(harness.slack.config)
    (select_element,) = [
        block["element"] for block in modal["blocks"] if block.get("block_id") == "circle"
    ]
    assert select_element["initial_option"]["value"] == str(circle_id)


def test_the_preview_refuses_what_the_monthly_cap_would_refuse(harness: Harness) -> None:
    # 500 EUR of new money a month: after 121.16 EUR this month, 600 EUR is refused before
    # anything is confirmed, with the same words the pledge itself would use.
    first, second = (make_project(harness.db, amount=100_000) for _ in range(2))
    alice = harness.user("alice")
    harness.command(alice.id, f"pledge {reference(harness, first)} 121.16")
    harness.click(alice.id, "pledge_confirm")
    harness.command(alice.id, f"pledge {reference(harness, second)} 600")
    reply = harness.reply(alice.id)
    assert "only €378.84 more this month" in text_of(reply)
    assert button_values(reply, "pledge_confirm") == []
    assert harness.count(Pledge) == 1


def choose_circle(harness: Harness, user_id: str, confirmation: Message, value: str) -> None:
    """The confirmation's circle select answered with ``value``, as a hand-made payload can."""
    option = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    action = {
        "type": "static_select",
        "action_id": "pledge_circle",
        "block_id": "b",
        "selected_option": option,
    }
    harness.sender._send_action(user_id, confirmation, action, None)
    harness.settle()


@pytest.mark.parametrize(
    "option",
    ["not json", '{"p": 1, "a": 2500, "c": "7", "i": "x"}', "<!channel>" * 300, ""],
)
def test_a_forged_circle_choice_is_answered_and_lends_nothing(
    harness: Harness, option: str
) -> None:
    lead, ana = harness.user("lea"), harness.user("ana")
    channel, _circle_id = _circle_in(harness, lead.id, ana.id)
    project_id = make_project(harness.db, amount=10_000)
    grant(harness, ana.id, 5_000)
    harness.command(ana.id, f"pledge {reference(harness, project_id)} 25", channel)
    confirmation = harness.reply(ana.id)
    choose_circle(harness, ana.id, confirmation, option)
    assert "That choice has expired; pledge again." in harness.reply_text(ana.id)
    assert harness.count(Pledge) == 0


def test_a_circle_the_lender_is_not_in_cannot_be_chosen(harness: Harness) -> None:
    lead, ana, bea = harness.user("lea"), harness.user("ana"), harness.user("bea")
    _channel, circle_id = _circle_in(harness, lead.id, ana.id)
    project_id = make_project(harness.db, amount=10_000)
    grant(harness, bea.id, 5_000)
    harness.command(bea.id, f"pledge {reference(harness, project_id)} 25")
    confirmation = harness.reply(bea.id)
    value = json.loads(button_values(confirmation, "pledge_confirm")[0])
    forged = json.dumps({**value, "c": circle_id})
    choose_circle(harness, bea.id, confirmation, forged)
    assert "circle you belong to" in harness.reply_text(bea.id)
    assert harness.count(Pledge) == 0
