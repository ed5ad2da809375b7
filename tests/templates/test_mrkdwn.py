"""Escaping and truncation primitives: the rules every rendered text obeys."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from templates.mrkdwn import (
    ELLIPSIS,
    Trusted,
    clean_text,
    escape_mrkdwn,
    inert_formatting,
    slack_length,
    truncate,
    unescape_mrkdwn,
)

FAMILY = "👩\u200d👩\u200d👧\u200d👦"  # one grapheme, seven code points
FLAG_PE = "🇵🇪"
THUMB_DARK = "👍🏿"


def only_known_entities(text: str) -> bool:
    return "&" not in re.sub("&(amp|lt|gt);", "", text)


def test_escapes_the_three_control_characters_only() -> None:
    assert escape_mrkdwn("<!channel> & <@U123> *bold* 'q'") == (
        "&lt;!channel&gt; &amp; &lt;@U123&gt; *bold* 'q'"
    )


def test_inert_formatting_swaps_formatting_characters_for_lookalikes_of_the_same_length() -> None:
    text = "*Team* _Andes_ ~x~ `y` <&>"
    inert = inert_formatting(text)
    assert inert == "\u2217Team\u2217 \u02cdAndes\u02cd \u223cx\u223c \u02cby\u02cb <&>"
    assert slack_length(inert) == slack_length(text)


def test_unescape_is_exact_inverse_in_one_pass() -> None:
    hostile = "&lt; literally & <x> &amp;amp;"
    assert unescape_mrkdwn(escape_mrkdwn(hostile)) == hostile


def test_clean_text_drops_nul_controls_bidi_overrides_and_lone_surrogates() -> None:
    assert clean_text("a\x00b\x1bc\x7fd\te\nf") == "abcd\te\nf"
    assert clean_text("שלום\u202eevil\u2066x\u2069") == "שלוםevilx"  # noqa: RUF001 (deliberate Hebrew)
    assert clean_text("x\ud800y") == "x\ufffdy"


def test_right_to_left_letters_are_kept() -> None:
    arabic = "قرض صغير"
    assert escape_mrkdwn(arabic) == arabic


def test_trusted_does_not_survive_string_operations() -> None:
    trusted = Trusted("<@U123>")
    assert type(trusted + "x") is str
    assert type(trusted.upper()) is str


def test_slack_length_counts_astral_characters_twice() -> None:
    assert slack_length("a😀") == 3


def test_short_text_is_unchanged() -> None:
    assert truncate("abc", 3) == "abc"


def test_truncate_fits_limit_with_ellipsis() -> None:
    result = truncate("x" * 100, 10)
    assert result == "x" * 9 + ELLIPSIS


@pytest.mark.parametrize("limit", range(2, 30))
def test_truncate_never_cuts_an_entity(limit: int) -> None:
    text = escape_mrkdwn("a&b<c>d" * 10)
    result = truncate(text, limit, mrkdwn=True)
    assert slack_length(result) <= limit
    assert only_known_entities(result)


def test_truncate_never_cuts_a_trusted_token() -> None:
    text = "see <https://example.org/very/long/path|the project> now"
    assert truncate(text, 30, mrkdwn=True) == "see " + ELLIPSIS


@pytest.mark.parametrize("grapheme", [FAMILY, FLAG_PE, THUMB_DARK, "e\u0301", "❤\ufe0f"])
@pytest.mark.parametrize("limit", range(2, 40))
def test_truncate_keeps_whole_graphemes(grapheme: str, limit: int) -> None:
    result = truncate(grapheme * 20, limit)
    body = result.removesuffix(ELLIPSIS)
    assert slack_length(result) <= limit
    assert body == grapheme * (len(body) // len(grapheme))


def test_accent_after_entity_does_not_split_it() -> None:
    text = escape_mrkdwn("&\u0301" * 10)
    for limit in range(2, 40):
        assert only_known_entities(truncate(text, limit, mrkdwn=True))


@given(st.text(), st.integers(min_value=1, max_value=50))
def test_truncate_any_text_respects_limit_and_is_a_prefix(text: str, limit: int) -> None:
    escaped = escape_mrkdwn(text)
    result = truncate(escaped, limit, mrkdwn=True)
    assert slack_length(result) <= limit
    assert escaped.startswith(result.removesuffix(ELLIPSIS))
    assert only_known_entities(result)
