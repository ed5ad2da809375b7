"""The catalogue: which open projects a lender is shown first, and how browsing filters them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.lending.credit import grant_credit
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.catalogue import (
    BrowseFilters,
    Choices,
    Flag,
    UnknownFilter,
    browse,
    featured,
    filter_choices,
    parse_filters,
)
from tests.factories import make_lender, make_project


def lend(db: Database, project_id: int, cents: int) -> None:
    lender = make_lender(db)
    assert grant_credit(db.sessions, lender, cents, key=f"g{lender}", reason="test").ok
    request = PledgeRequest(lender, project_id, cents)
    assert pledge(db.sessions, request, LendingRules(), key=None).ok


def test_close_to_their_goal_means_furthest_along_not_smallest(db: Database) -> None:
    untouched_small = make_project(db, amount=2_500)
    half = make_project(db, amount=10_000)
    a_tenth = make_project(db, amount=50_000)
    lend(db, half, 5_000)
    lend(db, a_tenth, 5_000)
    with db.sessions() as session:
        shown = [card.id for card in featured(session, utcnow())]
    assert shown == [half, a_tenth] and untouched_small not in shown


def test_when_nobody_has_lent_yet_the_first_to_run_out_of_time_come_first(db: Database) -> None:
    later = make_project(db, deadline=utcnow() + timedelta(days=20))
    sooner = make_project(db, deadline=utcnow() + timedelta(days=2))
    with db.sessions() as session:
        cards = featured(session, utcnow())
    assert [card.id for card in cards] == [sooner, later]
    assert all(card.funded == 0 for card in cards)


CHOICES = Choices(
    countries=("Burkina Faso", "Kenya", "Peru", "peru"),
    sectors=("Agriculture", "Personal Use", "Retail"),
)


def test_several_countries_and_sectors_are_all_kept_each_once() -> None:
    words = ["PERU", "kenya", "burkina-faso", "agriculture", "Personal", "Use", "kenya", "women"]
    assert parse_filters(words, CHOICES) == BrowseFilters(
        countries=("Peru", "peru", "Kenya", "Burkina Faso"),  # every stored spelling of Peru
        sectors=("Agriculture", "Personal Use"),
        flags=frozenset({Flag.WOMEN}),
    )
    assert parse_filters(["BurkinaFaso", "ending-soon", "Almost-Funded"], CHOICES) == (
        BrowseFilters(
            countries=("Burkina Faso",), flags=frozenset({Flag.ENDING_SOON, Flag.ALMOST_FUNDED})
        )
    )


@pytest.mark.parametrize(
    ("words", "unknown"),
    [
        (["peru", "Agricultre"], UnknownFilter("Agricultre", ("Agriculture",))),
        (["womn"], UnknownFilter("womn", ("women",))),
        (["kenia"], UnknownFilter("kenia", ("Kenya",))),
        (["atlantis"], UnknownFilter("atlantis", ())),
    ],
)
def test_an_unknown_word_is_kept_as_typed_with_the_names_close_to_it(
    words: list[str], unknown: UnknownFilter
) -> None:
    assert parse_filters(words, CHOICES) == unknown


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    """The queries run meanwhile (SQLite's BEGIN is not one)."""
    seen: list[str] = []

    def listener(*args: Any) -> None:
        if args[2].startswith("SELECT"):
            seen.append(args[2])

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def test_browse_ors_within_a_kind_and_ands_the_kinds_in_one_statement(db: Database) -> None:
    wanted = {
        make_project(db, country="Peru", sector="Agriculture", women=1),
        make_project(db, country="Kenya", sector="Retail", women=3),
    }
    make_project(db, country="Peru", sector="Agriculture", women=0)
    make_project(db, country="Kenya", sector="Food", women=1)
    make_project(db, country="Senegal", sector="Retail", women=1)
    filters = BrowseFilters(
        countries=("Peru", "Kenya"),
        sectors=("Agriculture", "Retail"),
        flags=frozenset({Flag.WOMEN}),
    )
    with db.sessions() as session, counted(db) as statements:
        found = browse(session, filters, utcnow())
    assert {card.id for card in found.cards} == wanted and len(statements) == 1
    assert "IN" in statements[0]


def test_browse_pages_through_the_matches(db: Database) -> None:
    peru = {make_project(db, country="Peru") for _ in range(3)}
    make_project(db, country="Senegal")
    filters, now = BrowseFilters(countries=("Peru",)), utcnow()
    with db.sessions() as session:
        first = browse(session, filters, now, per_page=2)
        second = browse(session, filters, now, page=1, per_page=2)
    assert first.has_more and not second.has_more
    assert {card.id for card in first.cards + second.cards} == peru


def test_filter_choices_are_the_open_countries_and_sectors_in_one_statement(db: Database) -> None:
    make_project(db, country="Senegal", sector="Retail")
    make_project(db, country="Peru", sector="Agriculture")
    make_project(db, country="Peru", sector="Retail")
    make_project(db, country="Kenya", sector="Food", deadline=utcnow() - timedelta(minutes=1))
    with db.sessions() as session, counted(db) as statements:
        choices = filter_choices(session, utcnow())
    assert choices == Choices(countries=("Peru", "Senegal"), sectors=("Agriculture", "Retail"))
    assert len(statements) == 1
