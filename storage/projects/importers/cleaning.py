"""Cleaning the text a catalogue source supplies, before it is checked and stored.

What the sources hold, as found in Kiva's public data: Python's repr of a list in place of a
loan's use, with a reviewer's note after it (``[True, u'to start a turducken farm.'] - this
loan use has been approved by VIVA QA``); runs of spaces, tabs and line breaks, no-break
spaces and invisible marks (a left-to-right mark inside "to \u200esell"); and, in text copied
from web pages, HTML tags and entities. Escaping for Slack is the renderer's job, not this
module's: cleaning only makes the text say what its author wrote.
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Iterable
from dataclasses import replace

from storage.importing.rows import SourceRow

# A reviewer's stamp that Kiva's export left at the end of some uses.
_APPROVAL_NOTE = re.compile(r"\s*-?\s*this loan use has been approved by\b.*$", re.I | re.S)
# Python's repr of a list, or of a unicode string (u'...'), standing for the whole text.
_PYTHON_REPR = re.compile(r"\[.*\]|[uU]'.*'|[uU]\".*\"", re.S)
_REPR_LIMIT = 5_000
# Tags that end a line in a web page, then every other tag and comment.
_BREAK = re.compile(r"<(?:br|/?p|/?div|/?li)\b[^<>]*>", re.I)
_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>", re.S)
_BLANK_LINES = re.compile(r"\n{3,}")
# Only complete entities: "&para" in "&paracetamol" is a word, not a pilcrow.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Control characters (those Python counts as spaces separate words instead), the soft hyphen,
# zero-width spaces, direction marks and embeddings, the word joiner, the byte-order mark and
# lone surrogates. The zero-width joiner and non-joiner stay: emoji and Persian need them.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u200b\u200e\u200f\u202a-\u202e"
    "\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)


def clean_text(text: str) -> str:
    """A description without source junk, markup or invisible characters: single spaces, its
    line breaks kept, at most one blank line between paragraphs. Cleaning clean text changes
    nothing: the steps are repeated until none applies."""
    while (cleaner := _clean_once(text)) != text:
        text = cleaner
    return text


def clean_name(text: str) -> str:
    """A name or a category (a country, a sector, a borrower) cleaned as text, on one line."""
    return " ".join(clean_text(text).split())


def _clean_once(text: str) -> str:
    # Every step shortens the text or only turns whitespace into other whitespace, so
    # repeating them reaches a text they leave as it is.
    text = _unwrap_repr(_APPROVAL_NOTE.sub("", text))
    text = _ENTITY.sub(lambda entity: html.unescape(entity.group()), text)
    text = _INVISIBLE.sub("", _TAG.sub(" ", _BREAK.sub("\n", text)))
    lines = "\n".join(" ".join(line.split()) for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", lines).strip("\n")


def _unwrap_repr(text: str) -> str:
    """The strings inside a Python repr that stands for the whole text (the flags beside them
    are the source's, not the author's); any other text as it is."""
    stripped = text.strip()
    if len(stripped) > _REPR_LIMIT or not _PYTHON_REPR.fullmatch(stripped):
        return text
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(item for item in value if isinstance(item, str))
    return text


def cleaned(row: SourceRow, *, texts: Iterable[str], names: Iterable[str]) -> SourceRow:
    """The row with these columns cleaned as descriptions and as names; the others as they are."""
    values = dict(row.values)
    for columns, clean in ((texts, clean_text), (names, clean_name)):
        for column in columns:
            if column in values:
                values[column] = clean(values[column])
    return replace(row, values=values)
