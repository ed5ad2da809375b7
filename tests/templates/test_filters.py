"""Filters every template can use."""

import datetime as dt
import json
import sys
import types
from fractions import Fraction

import pytest

from templates.filters import (
    date,
    link,
    mention,
    money,
    percent,
    plural,
    progress_bar,
    truncate_text,
)
from templates.filters import json as json_filter
from templates.mrkdwn import Trusted


@pytest.fixture
def fake_money(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Stand in for `storage.ledger.money` so these tests do not depend on its exact output."""
    calls: list[tuple[int, str]] = []

    def format_money(cents: int, currency: str = "EUR") -> str:
        calls.append((cents, currency))
        return f"{currency} {cents // 100}.{cents % 100:02d}"

    module = types.ModuleType("storage.ledger.money")
    module.format_money = format_money  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "storage.ledger.money", module)
    return calls


def test_money_delegates_integer_cents_to_storage(fake_money: list[tuple[int, str]]) -> None:
    assert money(2050) == "EUR 20.50"
    assert money(100, "USD") == "USD 1.00"
    assert fake_money == [(2050, "EUR"), (100, "USD")]


@pytest.mark.parametrize("bad", [20.5, True, "2000", None])
def test_money_refuses_anything_but_integer_cents(
    fake_money: list[tuple[int, str]], bad: object
) -> None:
    with pytest.raises(TypeError):
        money(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "total", "bar"),
    [
        (0, 100, "░░░░░░░░░░"),
        (40, 100, "▓▓▓▓░░░░░░"),
        (99, 100, "▓▓▓▓▓▓▓▓▓░"),
        (100, 100, "▓▓▓▓▓▓▓▓▓▓"),
        (250, 100, "▓▓▓▓▓▓▓▓▓▓"),
        (-5, 100, "░░░░░░░░░░"),
        (5, 0, "░░░░░░░░░░"),
    ],
)
def test_progress_bar_is_ten_cells_clamped(value: int, total: int, bar: str) -> None:
    assert progress_bar(value, total) == bar


def test_progress_bar_takes_a_fraction() -> None:
    assert progress_bar(0.5) == "▓▓▓▓▓░░░░░"
    assert progress_bar(Fraction(3, 10)) == "▓▓▓░░░░░░░"


def test_percent_rounds_down_with_exact_integer_arithmetic() -> None:
    assert percent(999_999, 1_000_000) == "99%"
    assert percent(1, 3) == "33%"
    assert percent(Fraction(1, 2)) == "50%"


def test_date_is_iso() -> None:
    assert date(dt.date(2024, 3, 5)) == "2024-03-05"
    assert date(dt.datetime(2024, 3, 5, 23, 59, tzinfo=dt.UTC)) == "2024-03-05"
    assert date(None) == ""


def test_plural() -> None:
    assert plural(1, "lender") == "1 lender"
    assert plural(1250, "lender") == "1,250 lenders"
    assert plural(0, "country", "countries") == "0 countries"


def test_mention_validates_user_id() -> None:
    assert mention("U012ABC") == "<@U012ABC>"
    assert isinstance(mention("W0AB"), Trusted)
    for bad in ["u123", "U1", "C123", "U123> <!channel", "", None]:
        with pytest.raises(ValueError):
            mention(bad)  # type: ignore[arg-type]


def test_link_escapes_label_and_url_delimiters() -> None:
    result = link("https://kiva.org/l?a=1&b=2|x", "Café & <!here>")
    assert result == "<https://kiva.org/l?a=1&amp;b=2%7Cx|Café &amp; &lt;!here&gt;>"
    assert isinstance(result, Trusted)


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "slack://open", "https://", "https://a b", "//evil.example"]
)
def test_link_without_safe_url_degrades_to_escaped_label(url: str) -> None:
    assert link(url, "<b>") == "&lt;b&gt;"


def test_json_filter_is_compact_and_round_trips() -> None:
    data = {"project": 7, "name": '‮<!channel> "q"'}
    assert json.loads(json_filter(data)) == data
    assert json_filter({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_truncate_text_keeps_emoji_whole() -> None:
    assert truncate_text("😀" * 10, 5) == "😀😀…"
