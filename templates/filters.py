"""Jinja filters registered for every template.

Filters that return `Trusted` build mrkdwn themselves and are the only sanctioned way for a
template to emit `<...>` tokens; every other filter returns plain values that the renderer
escapes like any other output.
"""

from __future__ import annotations

import datetime as dt
import json as jsonlib
import math
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

from templates.mrkdwn import Trusted, escape_mrkdwn, inert_formatting, truncate

Number = int | Fraction | Decimal | float

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_BAR_CELLS = 10
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
# `|` would end the URL part of `<url|label>`, `<>` the token itself; percent-encoding them
# keeps the URL equivalent.
_URL_RESERVED = {"|": "%7C", "<": "%3C", ">": "%3E"}


def _as_fraction(value: Number, total: Number | None) -> Fraction:
    """Exact ratio: integers (cents) never go through float arithmetic."""
    ratio = Fraction(value)
    if total is not None:
        ratio = Fraction(0) if total == 0 else ratio / Fraction(total)
    return ratio


def money(cents: int, currency: str = "EUR") -> str:
    """Integer minor units -> display text, e.g. `{{ project.amount|money }}`."""
    # Imported here: `storage.ledger.money` is the single source of money formatting, and templates
    # must not grow a silent fallback that formats differently.
    from storage.ledger.money import format_money

    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError(f"money expects integer cents, got {type(cents).__name__}")
    return format_money(cents, currency)


def progress_bar(value: Number, total: Number | None = None) -> str:
    """A 10-cell bar, clamped to 0..1: `{{ funded|progress_bar(amount) }}` -> `▓▓▓▓░░░░░░`.

    Cells are rounded down so the bar is full only when the goal is actually reached.
    """
    ratio = min(max(_as_fraction(value, total), Fraction(0)), Fraction(1))
    filled = math.floor(ratio * _BAR_CELLS)
    return "▓" * filled + "░" * (_BAR_CELLS - filled)


def percent(value: Number, total: Number | None = None) -> str:
    """Whole percent, rounded down (99.9% funded is not "100%"): `{{ a|percent(b) }}`."""
    return f"{math.floor(_as_fraction(value, total) * 100)}%"


def date(value: dt.date | None) -> str:
    """ISO date (YYYY-MM-DD) of a date or datetime; empty for None."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.date()
    return value.isoformat()


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`{{ n|plural("lender") }}` -> "1 lender", "1,250 lenders"."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def mention(user_id: str) -> Trusted:
    """`{{ user_id|mention }}` -> `<@U123ABC>`; anything that is not a user id is an error."""
    if not isinstance(user_id, str) or not _USER_ID.match(user_id):
        raise ValueError(f"not a Slack user id: {user_id!r}")
    return Trusted(f"<@{user_id}>")


def _safe_url(url: str) -> str | None:
    if not isinstance(url, str) or _URL_FORBIDDEN.search(url):
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    encoded = "".join(_URL_RESERVED.get(ch, ch) for ch in url)
    return encoded.replace("&", "&amp;")


def link(url: str, label: str) -> Trusted:
    """`{{ project.url|link(project.name) }}` -> `<https://...|name>` with the label escaped.

    A URL that is not plain http(s) (`javascript:`, `slack://`, garbage from an import)
    degrades to the escaped label without a link rather than failing the whole view.
    """
    safe_label = escape_mrkdwn(str(label))
    safe_url = _safe_url(url)
    if safe_url is None:
        return Trusted(safe_label)
    return Trusted(f"<{safe_url}|{safe_label}>" if safe_label else f"<{safe_url}>")


def json(value: Any) -> str:
    """Compact JSON text for a button `value` or `private_metadata`: `"{{ meta|json }}"`.

    The renderer escapes and string-encodes it like any output and restores it exactly in
    those fields, so the handler can `json.loads` what Slack sends back. ASCII-only so that
    text cleaning (bidi controls, lone surrogates) cannot alter the payload.
    """
    return jsonlib.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=True)


def truncate_text(text: str, limit: int) -> str:
    """Shorten raw text to `limit` characters with "…", never splitting an emoji."""
    return truncate(str(text), limit)


def unformatted(text: str) -> str:
    """`*{{ circle.name|unformatted }}*`: the text's own `*`, `_`, `~` and backticks show as
    lookalikes, so they cannot end (or start) the formatting around it. Still escaped after."""
    return inert_formatting(str(text))


FILTERS: dict[str, Callable[..., Any]] = {
    "money": money,
    "progress_bar": progress_bar,
    "percent": percent,
    "date": date,
    "plural": plural,
    "mention": mention,
    "link": link,
    "json": json,
    "truncate_text": truncate_text,
    "unformatted": unformatted,
}
