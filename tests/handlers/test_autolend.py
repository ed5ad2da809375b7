"""`/lend autolend`: one country and one sector at most, in words when asked for more."""

from __future__ import annotations

import pytest

from storage.lending.lenders import SlackIdentity, find_lender
from tests.factories import make_project
from tests.harness import Harness

TEAM = "T0EMULATOR"


def autolend_of(harness: Harness, user_id: str) -> tuple[bool, str | None, str | None]:
    with harness.db.sessions() as session:
        lender = find_lender(session, SlackIdentity(user_id, TEAM))
        assert lender is not None
        return lender.autolend, lender.autolend_country, lender.autolend_sector


@pytest.mark.parametrize(
    "filters", ["women", "peru almost-funded", "peru kenya", "agriculture retail", "ending-soon"]
)
def test_flags_or_several_countries_or_sectors_are_refused_in_words(
    harness: Harness, filters: str
) -> None:
    for country, sector in (("Peru", "Agriculture"), ("Kenya", "Retail")):
        make_project(harness.db, country=country, sector=sector)
    alice = harness.user("alice")
    harness.command(alice.id, "autolend on peru agriculture")
    harness.command(alice.id, f"autolend on {filters}")
    answer = harness.reply_text(alice.id)
    assert "Auto-lending follows one country and one sector" in answer
    assert "/lend autolend on [country] [sector]" in answer
    assert autolend_of(harness, alice.id) == (True, "Peru", "Agriculture")


def test_an_unknown_filter_is_named_with_the_names_closest_to_it(harness: Harness) -> None:
    make_project(harness.db, country="Peru", sector="Agriculture")
    alice = harness.user("alice")
    harness.command(alice.id, "autolend on peur")
    answer = harness.reply_text(alice.id)
    assert "I don't know the filter `peur`. Did you mean `Peru`?" in answer
    assert "that filter" not in answer
    assert autolend_of(harness, alice.id) == (False, None, None)
