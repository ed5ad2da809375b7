"""Text primitives for Slack: escaping untrusted text, trusted mrkdwn, safe truncation.

Slack's "Escaping text" rules: `&`, `<` and `>` are control characters in mrkdwn and must be
sent as `&amp;`, `&lt;` and `&gt;`; only those three entities are decoded, so nothing else
is entity-encoded.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"

_MRKDWN_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MRKDWN_SPECIAL = re.compile("[&<>]")
_ENTITY = re.compile("&(amp|lt|gt);")
_ENTITY_CHARS = {"amp": "&", "lt": "<", "gt": ">"}
_LONGEST_ENTITY = len("&amp;")

# C0 controls except tab and newline, and DEL: Slack has no use for them and NUL in particular
# is rejected by many JSON consumers downstream.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
# Explicit bidi embeddings, overrides and isolates (LRE..RLO, LRI..PDI). A user-supplied RLO
# left open would reverse the display of *our* text that follows it on the line (a classic
# spoofing trick). Arabic and Hebrew render correctly without them, by the bidi algorithm.
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
# A lone surrogate cannot be encoded as UTF-8, so the HTTP request to Slack would fail.
_SURROGATE = re.compile("[\ud800-\udfff]")

# Lookalikes for the characters that open and close mrkdwn formatting: Slack has no escape
# for them, so a name's own `*` inside `*{{ name }}*` would end the bold early, and its own
# backtick would end a code span.
_FORMATTING_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})

_ZWJ = "\u200d"
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
_EMOJI_MODIFIERS = range(0x1F3FB, 0x1F400)
_TAG_CHARACTERS = range(0xE0020, 0xE0080)


class Trusted(str):
    """mrkdwn built by our own code, inserted into a template without escaping.

    Only helper filters (`mention`, `link`) and reviewed code should create one: grep for
    `Trusted(` to audit every place that bypasses escaping. Any string operation on a
    Trusted value returns a plain `str`, which is escaped again: trust does not spread.
    """

    __slots__ = ()


def replace_lone_surrogates(text: str) -> str:
    """Replace unpaired UTF-16 surrogates with U+FFFD so the text can be encoded as UTF-8."""
    return _SURROGATE.sub("\ufffd", text)


def clean_text(text: str) -> str:
    """Drop characters that must never reach Slack from untrusted text (see the patterns)."""
    text = replace_lone_surrogates(text)
    return _BIDI_CONTROL.sub("", _CONTROL.sub("", text))


def escape_mrkdwn(text: str) -> str:
    """Make untrusted text inert in mrkdwn: it cannot mention, ping, link or format-break.

    Also drops control characters, bidi overrides and lone surrogates (`clean_text`).
    """
    return _MRKDWN_SPECIAL.sub(lambda m: _MRKDWN_ESCAPES[m.group()], clean_text(text))


def inert_formatting(text: str) -> str:
    """Untrusted text that can neither open nor close bold, italic, strike or code around it.

    Each of `*`, `_`, `~` and the backtick becomes a lookalike of the same length.
    """
    return text.translate(_FORMATTING_LOOKALIKES)


def unescape_mrkdwn(text: str) -> str:
    """Inverse of the entity part of `escape_mrkdwn`, in one pass (`&amp;lt;` -> `&lt;`)."""
    return _ENTITY.sub(lambda m: _ENTITY_CHARS[m.group(1)], text)


def slack_length(text: str) -> int:
    """Length as the strictest counter sees it: UTF-16 code units.

    slack_sdk counts code points, Slack's clients count UTF-16 units; an emoji outside the
    BMP is 1 for the former and 2 for the latter. Fitting to the larger keeps both happy.
    """
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _extends_previous(text: str, index: int) -> bool:
    """True if the character at `index` belongs to the grapheme cluster before it."""
    ch = text[index]
    code = ord(ch)
    if text[index - 1] == _ZWJ or ch == _ZWJ:
        return True
    if unicodedata.category(ch) in ("Mn", "Me", "Mc") or 0xFE00 <= code <= 0xFE0F:
        return True
    if code in _EMOJI_MODIFIERS or code in _TAG_CHARACTERS:
        return True
    if code in _REGIONAL_INDICATORS:
        # Flags are pairs of regional indicators: an odd count before us means we are the
        # second half of a flag.
        run = 0
        while index - run - 1 >= 0 and ord(text[index - run - 1]) in _REGIONAL_INDICATORS:
            run += 1
        return run % 2 == 1
    return False


def _grapheme_boundary(text: str, cut: int) -> int:
    """Move `cut` left until it does not split a grapheme cluster (emoji, ZWJ, accents)."""
    while 0 < cut < len(text) and _extends_previous(text, cut):
        cut -= 1
    return cut


def _mrkdwn_boundary(text: str, cut: int) -> int:
    """Move `cut` left so it splits neither an entity (`&amp;`) nor a `<...>` token."""
    amp = text.rfind("&", max(0, cut - _LONGEST_ENTITY + 1), cut)
    if amp != -1 and ";" not in text[amp:cut]:
        cut = amp
    # In escaped mrkdwn every `<` comes from trusted code and opens a mention or link.
    opener = text.rfind("<", 0, cut)
    if opener != -1 and ">" not in text[opener:cut]:
        cut = opener
    return cut


def _prefix_within(text: str, budget: int) -> int:
    """Largest index such that `text[:index]` has a `slack_length` of at most `budget`."""
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            return index
    return len(text)


def truncate(text: str, limit: int, *, mrkdwn: bool = False) -> str:
    """Shorten `text` to at most `limit` (by `slack_length`), ending with an ellipsis.

    Never splits a grapheme cluster and, for `mrkdwn`, never an entity or `<...>` token.
    """
    if slack_length(text) <= limit:
        return text
    cut = _prefix_within(text, limit - slack_length(ELLIPSIS))
    # Each adjustment only moves left, and one can land where the other objects (an accent
    # right after `&amp;`), so repeat until both agree.
    while True:
        moved = _grapheme_boundary(text, _mrkdwn_boundary(text, cut) if mrkdwn else cut)
        if moved == cut:
            return text[:cut] + ELLIPSIS
        cut = moved
