"""Cleaning catalogue text at import: the junk sources really hold goes, the author's words stay."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from storage.importing.rows import SourceRow
from storage.projects.importers.cleaning import clean_name, clean_text, cleaned

# Kiva's export, as found in its public data (the first is the sample's loan 1340250).
FOUND_IN_KIVA = [
    (
        "[True, u'to start a turducken farm.'] - this loan use has been approved by VIVA QA",
        "to start a turducken farm.",
    ),
    ("to buy two dairy cows\n\n", "to buy two dairy cows"),
    (
        "to buy cost-efficient maize, millet and sorghum seeds.\t\t\t\t\t",
        "to buy cost-efficient maize, millet and sorghum seeds.",
    ),
    ("to buy  tissue, pegs, and  sanitary pads", "to buy tissue, pegs, and sanitary pads"),
    ("to increase\xa0her cultivation\xa0of maize.", "to increase her cultivation of maize."),
    (
        "to help her husband buy more sheep to \u200esell.",
        "to help her husband buy more sheep to sell.",
    ),
    ("La Paz  / El Alto", "La Paz / El Alto"),
]
# What text copied from web pages or other programs brings along.
MARKUP_AND_STRAY_CHARACTERS = [
    (
        "<p>to buy&nbsp;seeds &amp; tools<br/>for the harvest</p>",
        "to buy seeds & tools\nfor the harvest",
    ),
    ("to buy fish &#39;n&#x27; chips", "to buy fish 'n' chips"),
    ("&lt;b&gt;to buy rice&lt;/b&gt;", "to buy rice"),
    ("to buy <!-- draft --> goats", "to buy goats"),
    ("[u'to buy seeds', u'and tools']", "to buy seeds and tools"),
    ("u'to buy a farmer\\'s tools'", "to buy a farmer's tools"),
    ("to\x00 buy\x07 a\x1b cart\x7f\ufeff", "to buy a cart"),
    ("to buy a cart \t\n  \r\n\n\n\nand\u2028a horse", "to buy a cart\n\nand\na horse"),
    ("to buy<br>a cart<p>and a horse</p>", "to buy\na cart\nand a horse"),
]
# Text that looks a little like junk and is not.
LEFT_AS_WRITTEN = [
    "to buy cañaflecha [a type of palm fiber] in order to work.",
    "to sell 5 < 6 & 7 > 3 kinds of fruit",
    "to buy &paracetamol and R&D; AT&T phones",
    "[urgent] to buy seeds",
    'to add spicy rice "Pilau" to the menu',
    "👩🏽\u200d🌾 farming with her family",
    "خرید گوسفند\u200cها",  # noqa: RUF001 (the zero-width non-joiner is Persian spelling)
]


@pytest.mark.parametrize(("source", "clean"), FOUND_IN_KIVA + MARKUP_AND_STRAY_CHARACTERS)
def test_junk_goes(source: str, clean: str) -> None:
    assert clean_text(source) == clean


@pytest.mark.parametrize("text", LEFT_AS_WRITTEN)
def test_text_that_only_looks_like_junk_stays(text: str) -> None:
    assert clean_text(text) == text


def test_a_repr_with_no_text_in_it_is_junk_through_and_through() -> None:
    assert clean_text("[True] - this loan use has been approved by VIVA QA") == ""


def test_a_name_is_cleaned_as_text_and_kept_on_one_line() -> None:
    assert clean_name(" Burkina\u200e\n Faso&nbsp;") == "Burkina Faso"


JUNK_PIECES = st.sampled_from(
    [
        "<",
        ">",
        "&",
        ";",
        "#",
        "x",
        "[",
        "]",
        "u'",
        "'",
        '"',
        ",",
        "True",
        "lt",
        "amp",
        "b",
        "/",
        "<br>",
        "&amp;",
        "&lt;",
        "&gt;",
        "&#60;",
        "!--",
        "--",
        " ",
        "\t",
        "\n",
        "\xa0",
        "\x00",
        "\u200e",
        "\x1f",
        "\x85",
        " - this loan use has been approved by VIVA QA",
    ]
)


@given(st.one_of(st.text(), st.lists(JUNK_PIECES).map("".join)))
@example("&amp;lt;b&amp;gt;x")
@example("&am<b>p;lt;")
@example("[\"[u'x']\"]")
def test_cleaning_clean_text_changes_nothing(text: str) -> None:
    for clean in (clean_text, clean_name):
        once = clean(text)
        assert clean(once) == once


WORD = st.text(
    alphabet=st.characters(
        categories=("L", "N", "P", "S"), exclude_characters="<>&[]'\"", max_codepoint=0x2FFFF
    ),
    min_size=1,
)
INVISIBLE = st.text(alphabet="\x00\x1b\u200b\u200e\ufeff")
SPACE = st.tuples(INVISIBLE, st.text(alphabet=" \t\n\r\xa0\u2003\u2028\x85\x1f", min_size=1)).map(
    "".join
)


@given(st.lists(st.tuples(WORD, SPACE), min_size=1), SPACE)
def test_words_are_never_lost_only_the_space_between_them_is_tidied(
    words: list[tuple[str, str]], lead: str
) -> None:
    text = lead + "".join(word + space for word, space in words)
    expected = [word for word, _space in words]
    if "this loan use has been approved by" in " ".join(expected).casefold():
        return  # a reviewer's stamp, not the author's words
    assert clean_name(text) == " ".join(expected)
    clean = clean_text(text)
    assert clean.split() == expected and clean == clean.strip()
    assert "  " not in clean and "\n\n\n" not in clean and " \n" not in clean


def test_a_row_is_cleaned_in_the_columns_named_only() -> None:
    row = SourceRow(3, {"use": "to  buy\n\tseeds", "region": " Cusco\n", "photo_url": "a  b"})
    assert cleaned(row, texts=["use"], names=["region", "country"]) == SourceRow(
        3, {"use": "to buy\nseeds", "region": "Cusco", "photo_url": "a  b"}
    )
