"""/lend browse end to end: filters that widen and narrow, a header that says them, Previous and
Next that keep them, and honest answers to words and buttons the app does not know."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update

from bot.devtools.emulator import Delivery, Message
from storage.db.clock import utcnow
from storage.projects.models import Project
from tests.factories import make_project
from tests.harness import Harness, button_values, text_of


def shown(message: Message) -> set[int]:
    return {json.loads(value)["project"] for value in button_values(message, "lend")}


def header(message: Message) -> str:
    [block] = [block for block in message.blocks if block["type"] == "header"]
    return str(block["text"]["text"])


def forge(harness: Harness, user_id: str, action_id: str, value: str, within: Message) -> None:
    """What a hand-made payload would send: a page button with a value the app never wrote."""
    button = {"type": "button", "action_id": action_id, "block_id": "b", "value": value}
    harness.sender._send_action(user_id, within, button, None)
    harness.settle()


def test_countries_widen_sectors_widen_and_the_kinds_narrow(harness: Harness) -> None:
    wanted = {
        make_project(harness.db, country="Peru", sector="Agriculture", women=1),
        make_project(harness.db, country="Kenya", sector="Agriculture", women=2),
    }
    make_project(harness.db, country="Peru", sector="Agriculture", women=0)  # no woman
    make_project(harness.db, country="Kenya", sector="Retail", women=1)  # another sector
    make_project(harness.db, country="Senegal", sector="Agriculture", women=1)  # elsewhere
    alice = harness.user("alice")
    harness.command(alice.id, "browse peru kenya agriculture women")
    assert shown(harness.reply(alice.id)) == wanted
    harness.command(alice.id, "browse kenya agriculture retail")
    assert len(shown(harness.reply(alice.id))) == 2  # the Kenyan projects of both sectors


def test_the_header_says_the_filters_in_words(harness: Harness) -> None:
    for country, sector in [("Peru", "Agriculture"), ("Kenya", "Retail"), ("Senegal", "Food")]:
        make_project(harness.db, country=country, sector=sector)
    alice = harness.user("alice")
    harness.command(alice.id, "browse")
    assert header(harness.reply(alice.id)) == "Open projects"
    harness.command(alice.id, "browse peru kenya senegal agriculture women ending-soon")
    assert header(harness.reply(alice.id)) == (
        "Open projects in Peru, Kenya or Senegal · Agriculture · by women · ending soon"
    )
    harness.command(alice.id, "browse almost-funded retail agriculture")
    assert (
        header(harness.reply(alice.id)) == "Open projects · Retail or Agriculture · almost funded"
    )


def test_names_from_an_import_are_shown_as_text_in_the_header(harness: Harness) -> None:
    make_project(harness.db, country="<!channel> & Co")
    alice = harness.user("alice")
    harness.command(alice.id, "browse <!channel>&Co")
    answer = harness.reply(alice.id)
    assert header(answer) == "Open projects in <!channel> & Co"  # plain text: never a ping
    assert answer.text.startswith("Open projects in &lt;!channel&gt; &amp; Co")


def test_previous_and_next_keep_the_filters(harness: Harness) -> None:
    peru = {make_project(harness.db, country="Peru") for _ in range(11)}
    make_project(harness.db, country="Senegal")
    alice = harness.user("alice")
    harness.command(alice.id, "browse peru")
    first = harness.reply(alice.id)
    assert button_values(first, "browse_previous") == [] and button_values(first, "browse_next")
    seen = [shown(first)]
    for expected_page in (2, 3):
        harness.click(alice.id, "browse_next", within=harness.reply(alice.id))
        page = harness.reply(alice.id)
        assert page.ts == first.ts  # the page was replaced, not added
        assert header(page) == "Open projects in Peru" and f"Page {expected_page}" in text_of(page)
        seen.append(shown(page))
    last = harness.reply(alice.id)
    assert button_values(last, "browse_next") == [] and button_values(last, "browse_previous")
    assert [len(cards) for cards in seen] == [5, 5, 1] and set().union(*seen) == peru
    harness.click(alice.id, "browse_previous", within=last)
    assert shown(harness.reply(alice.id)) == seen[1]


def test_a_page_emptied_since_it_was_offered_says_so_and_leads_back(harness: Harness) -> None:
    projects = [make_project(harness.db) for _ in range(6)]
    alice = harness.user("alice")
    harness.command(alice.id, "browse")
    with harness.db.sessions() as session, session.begin():  # their time ran out meanwhile
        session.execute(
            update(Project).where(Project.id.in_(projects[:3])).values(deadline=utcnow())
        )
    harness.click(alice.id, "browse_next", within=harness.reply(alice.id))
    page = harness.reply(alice.id)
    assert "No more open projects here" in text_of(page) and shown(page) == set()
    assert button_values(page, "browse_previous") and button_values(page, "browse_next") == []


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"p": 1, "f": {"country": "Peru"}}),  # an earlier version's button
        "not json",
        json.dumps({"p": -1, "c": [], "s": [], "x": []}),
        json.dumps({"p": 10_001, "c": [], "s": [], "x": []}),
        json.dumps({"p": True, "c": [], "s": [], "x": []}),
        json.dumps({"p": 1, "c": "Peru", "s": [], "x": []}),
        json.dumps({"p": 1, "c": [7], "s": [], "x": []}),
        json.dumps({"p": 1, "c": ["x" * 101], "s": [], "x": []}),
        json.dumps({"p": 1, "c": [], "s": [], "x": ["yes"]}),
        json.dumps({"p": 1, "c": [], "s": [], "x": [["women"]]}),
        json.dumps({"p": 1, "c": [], "s": [], "x": [], "admin": True}),
    ],
)
def test_a_forged_or_stale_page_button_is_answered_and_changes_nothing(
    harness: Harness, value: str
) -> None:
    for _ in range(6):
        make_project(harness.db)
    alice = harness.user("alice")
    harness.command(alice.id, "browse")
    page = harness.reply(alice.id)
    forge(harness, alice.id, "browse_next", value, page)
    answer = harness.reply(alice.id)
    assert answer.ts != page.ts and "That page button is out of date" in text_of(answer)
    assert "/lend browse" in text_of(answer)
    [kept] = [m for m in harness.ephemerals(alice.id) if m.ts == page.ts]
    assert kept.blocks == page.blocks


def test_more_names_than_a_page_button_holds_are_refused(harness: Harness) -> None:
    countries = [f"{letter * 90} land" for letter in "abcdefghijklmnopqrstuvwxy"]
    for country in countries:
        make_project(harness.db, country=country)
    alice = harness.user("alice")
    harness.command(alice.id, "browse " + " ".join(name.replace(" ", "") for name in countries))
    assert "name fewer of them" in harness.reply_text(alice.id)
    harness.command(alice.id, "browse " + " ".join(c.replace(" ", "") for c in countries[:5]))
    assert len(shown(harness.reply(alice.id))) == 5


def test_an_unknown_word_is_named_back_with_what_comes_close(harness: Harness) -> None:
    make_project(harness.db, country="Peru", sector="Agriculture")
    make_project(harness.db, country="Kenya", sector="Retail")
    alice = harness.user("alice")
    harness.command(alice.id, "browse peru agricultre")
    answer = harness.reply_text(alice.id)
    assert "I don't know the filter `agricultre`. Did you mean `Agriculture`?" in answer
    assert "Kenya, Peru" in answer and "Agriculture, Retail" in answer
    assert "`women`, `ending-soon` and `almost-funded`" in answer
    harness.command(alice.id, "browse womn")
    assert "Did you mean `women`?" in harness.reply_text(alice.id)


def test_an_unknown_word_is_named_back_escaped(harness: Harness) -> None:
    make_project(harness.db)
    alice = harness.user("alice")
    delivery: Delivery = harness.command(alice.id, "browse peru <!channel>")
    assert delivery.status == 200
    answer = text_of(harness.reply(alice.id), kinds=("mrkdwn",))
    assert "I don't know the filter `&lt;!channel&gt;`." in answer
    assert "<!channel>" not in answer and "that filter" not in answer
