"""The browse page and the unknown-filter answer, rendered with names at their limits."""

from __future__ import annotations

import csv

from bot.devtools.demo import DEMO_CSV
from storage.projects.catalogue import BrowseFilters, BrowsePage, Choices, Flag
from templates.render import render_message
from tests.slack_models import assert_valid_blocks

SAMPLE_COUNTRIES = tuple(sorted({row["country"] for row in csv.DictReader(DEMO_CSV.open())}))
HEADER_LIMIT = 150


def test_a_header_naming_every_country_is_cut_to_fit_and_the_text_names_them_all() -> None:
    filters = BrowseFilters(countries=SAMPLE_COUNTRIES, flags=frozenset(Flag))
    page = BrowsePage(cards=(), page=0, has_more=False)
    rendered = render_message(
        "browse.json.j2", page=page, filters=filters, previous_value=None, next_value=None
    )
    assert_valid_blocks(rendered.blocks)
    header = rendered.blocks[0]["text"]["text"]
    assert len(header) <= HEADER_LIMIT and header.startswith("Open projects in Albania, ")
    assert f"{SAMPLE_COUNTRIES[-2]} or {SAMPLE_COUNTRIES[-1]} · by women" in rendered.text


def test_an_unknown_word_with_no_close_names_suggests_none() -> None:
    rendered = render_message(
        "filter_unknown.json.j2",
        word="atlantis",
        suggestions=(),
        choices=Choices(countries=("Peru",), sectors=("Retail",)),
    )
    assert_valid_blocks(rendered.blocks)
    assert (
        "I don't know the filter `atlantis`. You can filter by"
        in rendered.blocks[0]["text"]["text"]
    )


def test_several_close_names_are_offered_as_a_choice() -> None:
    rendered = render_message(
        "filter_unknown.json.j2",
        word="ma",
        suggestions=("Mali", "Malawi", "Mexico"),
        choices=Choices(countries=("Mali", "Malawi", "Mexico"), sectors=()),
    )
    assert "Did you mean `Mali`, `Malawi` or `Mexico`?" in rendered.blocks[0]["text"]["text"]
