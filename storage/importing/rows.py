"""Reading import files row by row, and reporting the rows that could not be used.

Files are streamed: a reader yields one ``SourceRow`` at a time, so memory stays flat however
large the file. Bytes are decoded line by line, so a line that is not UTF-8 costs only its own
row (reported with its line number) instead of the whole file, and every line of a file ends up
in a row or in a problem: a broken record never swallows the lines after it. Problems that make
the whole file unusable (no header, missing columns, a column named twice) raise
``ImportFileError`` before anything is loaded.
"""

from __future__ import annotations

import codecs
import csv
import heapq
import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import BinaryIO, TypeVar

BATCH_SIZE = 1_000
# A physical line longer than this is refused unread: a hostile file cannot make us hold it.
MAX_LINE_BYTES = 256 * 1024
# The report keeps this many problems; the counts stay exact however many rows are bad.
MAX_PROBLEMS = 1_000
# A quoted field may hold line breaks, but a record spans at most this many lines: a stray
# quote then costs its own line, not every line after it.
MAX_RECORD_LINES = 20
UNCLOSED_QUOTE = "a quote opened on this line is never closed"

T = TypeVar("T")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; nothing was loaded."""


class BadRow(ValueError):
    """One row cannot be used; the message is the reason shown to the person importing."""


@dataclass(frozen=True)
class RowProblem:
    line: int
    reason: str


@dataclass(frozen=True)
class ImportReport:
    """What an import did: rows loaded, rows skipped as bad, rows that changed nothing.

    ``problems`` explains the skipped rows (the first ``MAX_PROBLEMS`` of them); ``notes``
    explains rows that changed nothing when that is worth telling (a repayment already recorded).
    """

    loaded: int
    skipped: int
    unchanged: int
    problems: tuple[RowProblem, ...] = ()
    notes: tuple[RowProblem, ...] = ()


class _FirstLines:
    """The ``MAX_PROBLEMS`` lowest-numbered lines told, whatever order they are told in: an
    import finds a batch's unreadable rows before the rows it refuses when storing them."""

    def __init__(self) -> None:
        # A max-heap by line number (negated), so the highest line kept is the one to drop.
        self._heap: list[tuple[int, str]] = []

    def add(self, line: int, reason: str) -> None:
        if len(self._heap) < MAX_PROBLEMS:
            heapq.heappush(self._heap, (-line, reason))
        elif line < -self._heap[0][0]:
            heapq.heapreplace(self._heap, (-line, reason))

    def in_order(self) -> tuple[RowProblem, ...]:
        return tuple(RowProblem(-line, reason) for line, reason in sorted(self._heap, reverse=True))


@dataclass
class ReportBuilder:
    loaded: int = 0
    skipped: int = 0
    unchanged: int = 0
    problems: _FirstLines = field(default_factory=_FirstLines)
    notes: _FirstLines = field(default_factory=_FirstLines)

    def skip(self, line: int, reason: str) -> None:
        self.skipped += 1
        self.problems.add(line, reason)

    def keep(self, line: int, note: str | None = None) -> None:
        self.unchanged += 1
        if note is not None:
            self.notes.add(line, note)

    def report(self) -> ImportReport:
        return ImportReport(
            loaded=self.loaded,
            skipped=self.skipped,
            unchanged=self.unchanged,
            problems=self.problems.in_order(),
            notes=self.notes.in_order(),
        )


@dataclass(frozen=True)
class SourceRow:
    """One record of a file: where it starts, its values by column, or why it is unreadable."""

    line: int
    values: Mapping[str, str]
    problem: str | None = None


def parse_rows(
    rows: Iterable[SourceRow], parse: Callable[[SourceRow], T], report: ReportBuilder
) -> list[tuple[int, T]]:
    """Parse a batch, reporting (and dropping) the rows that are unreadable or invalid."""
    parsed: list[tuple[int, T]] = []
    for row in rows:
        try:
            if row.problem is not None:
                raise BadRow(row.problem)
            parsed.append((row.line, parse(row)))
        except BadRow as bad:
            report.skip(row.line, str(bad))
    return parsed


def batched(items: Iterable[T], size: int = BATCH_SIZE) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# Reading files ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One physical line: its text ("" when unusable, with the reason), and its quote marks,
    counted in the bytes so that an unusable line still opens or closes a quoted field."""

    number: int
    text: str
    quotes: int
    problem: str | None = None

    @property
    def blank(self) -> bool:
        return self.problem is None and not self.text.strip("\r\n")


def _physical_lines(stream: BinaryIO) -> Iterator[_Line]:
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        number += 1
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        yield _decode(stream, number, raw)


def _decode(stream: BinaryIO, number: int, raw: bytes) -> _Line:
    quotes = raw.count(b'"')
    if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
        quotes += _skip_rest_of_line(stream)
        return _Line(number, "", quotes, f"the line is longer than {MAX_LINE_BYTES:,} bytes")
    try:
        return _Line(number, raw.decode("utf-8"), quotes)
    except UnicodeDecodeError:
        return _Line(number, "", quotes, "the line is not UTF-8 text (save the file as UTF-8)")


def _skip_rest_of_line(stream: BinaryIO) -> int:
    """Read past the rest of an over-long line, counting its quote marks."""
    quotes = 0
    while chunk := stream.readline(MAX_LINE_BYTES):
        quotes += chunk.count(b'"')
        if chunk.endswith(b"\n"):
            break
    return quotes


@dataclass(frozen=True)
class _Record:
    line: int
    cells: list[str]
    problem: str | None = None


class _CsvRecords:
    """CSV records assembled from physical lines: a record goes on to the next line while it
    holds an odd number of quote marks (a quoted field with a line break), for at most
    ``MAX_RECORD_LINES`` lines. A record that cannot be read costs only its first line: the
    lines after it are read again as records of their own, so one stray quote cannot swallow
    the rest of the file."""

    def __init__(self, stream: BinaryIO) -> None:
        self._lines = _physical_lines(stream)
        self._again: deque[_Line] = deque()

    def __iter__(self) -> Iterator[_Record]:
        while (first := self._next_line()) is not None:
            if not first.blank:
                yield self._record(first)

    def _next_line(self) -> _Line | None:
        return self._again.popleft() if self._again else next(self._lines, None)

    def _record(self, first: _Line) -> _Record:
        lines, quotes = [first], first.quotes
        while quotes % 2 and len(lines) < MAX_RECORD_LINES:
            line = self._next_line()
            if line is None:
                break
            lines.append(line)
            quotes += line.quotes
        if quotes % 2:
            return self._first_line_only(lines, UNCLOSED_QUOTE)
        problem = next((line.problem for line in lines if line.problem is not None), None)
        if problem is not None:
            return _Record(first.number, [], problem)
        return self._parsed(lines)

    def _parsed(self, lines: list[_Line]) -> _Record:
        reader = csv.reader((line.text for line in lines), strict=True)
        try:
            cells = next(reader)
        except csv.Error as error:
            return self._first_line_only(lines, f"the line is not valid CSV ({error})")
        if reader.line_num < len(lines):
            # The csv module saw a literal quote in a plain value, not a quoted field: the
            # later lines are records of their own, and the quote is one no field closes.
            return self._first_line_only(lines, UNCLOSED_QUOTE)
        return _Record(lines[0].number, cells)

    def _first_line_only(self, lines: list[_Line], problem: str) -> _Record:
        self._again.extendleft(reversed(lines[1:]))
        return _Record(lines[0].number, [], problem)


def read_csv(stream: BinaryIO, required: Sequence[str]) -> Iterator[SourceRow]:
    """The rows of a CSV file with a header line that must name every ``required`` column, each
    column once. The header is checked at once, before any row is read."""
    records = iter(_CsvRecords(stream))
    header = _header(records, required)
    return (_csv_row(record, header) for record in records)


def _header(records: Iterator[_Record], required: Sequence[str]) -> list[str]:
    """The first record, which must be readable and name every required column once."""
    first = next(records, None)
    if first is None:
        raise ImportFileError("The file is empty: it needs a header line naming the columns.")
    if first.problem is not None:
        raise ImportFileError(f"The header line cannot be read: {first.problem}.")
    header = [name.strip() for name in first.cells]
    # Blank names (a spreadsheet's trailing empty columns) name nothing, so they may repeat.
    twice = sorted(name for name, count in Counter(header).items() if name and count > 1)
    if twice:
        raise ImportFileError(
            f"The header names the column {', '.join(twice)} more than once; "
            "which of the values is meant cannot be told."
        )
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFileError(f"The file lacks the columns: {', '.join(missing)}.")
    return header


def _csv_row(record: _Record, header: list[str]) -> SourceRow:
    if record.problem is not None:
        return SourceRow(record.line, {}, record.problem)
    if len(record.cells) != len(header):
        problem = f"it has {len(record.cells)} values where the header names {len(header)} columns"
        return SourceRow(record.line, {}, problem)
    return _storable_row(record.line, dict(zip(header, record.cells, strict=True)))


def _storable_row(line: int, values: dict[str, str]) -> SourceRow:
    """The row, or why a database cannot store one of its values: PostgreSQL refuses NUL in
    text (SQLite would keep it), and text must encode as UTF-8 (JSON can escape a lone
    surrogate). Refused here, so that both databases take the same rows."""
    for name, value in values.items():
        if "\x00" in value:
            return SourceRow(line, {}, f"{name} contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SourceRow(line, {}, f"{name} is not Unicode text")
    return SourceRow(line, values)


def read_json_lines(stream: BinaryIO) -> Iterator[SourceRow]:
    """The rows of a JSON Lines file: one JSON object per line, so it can be streamed."""
    for line in _physical_lines(stream):
        if line.problem is not None:
            yield SourceRow(line.number, {}, line.problem)
        elif line.text.strip():
            yield _json_row(line.number, line.text)


def _json_row(line: int, content: str) -> SourceRow:
    if line == 1 and content.lstrip().startswith("["):
        raise ImportFileError(
            "Expected JSON Lines (one JSON object per line), not a JSON array; "
            "write each project as an object on its own line."
        )
    try:
        # Decimal, never float: amounts keep their exact digits.
        value = json.loads(content, parse_float=Decimal)
    except (ValueError, RecursionError):
        return SourceRow(line, {}, "the line is not valid JSON")
    if not isinstance(value, dict):
        return SourceRow(line, {}, "the line is not a JSON object")
    try:
        return _storable_row(line, {key: _json_text(key, item) for key, item in value.items()})
    except BadRow as bad:
        return SourceRow(line, {}, str(bad))


def _json_text(key: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise BadRow(f"{key} must be text or a number")
    return str(value)


# Reading values --------------------------------------------------------------------------------


def text(row: SourceRow, name: str, limit: int, *, truncate: bool = False) -> str:
    """A required text value, stripped; over ``limit`` it is truncated or the row refused."""
    value = optional_text(row, name, limit, truncate=truncate)
    if value is None:
        raise BadRow(f"{name} is missing")
    return value


def optional_text(row: SourceRow, name: str, limit: int, *, truncate: bool = False) -> str | None:
    value = row.values.get(name, "").strip()
    if len(value) > limit:
        if not truncate:
            raise BadRow(f"{name} is longer than {limit} characters")
        value = value[: limit - 1].rstrip() + "…"
    return value or None


def decimal(row: SourceRow, name: str) -> Decimal:
    value = text(row, name, 40)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise BadRow(f"{name} is not a number: {value!r}") from None
    if not number.is_finite():
        raise BadRow(f"{name} is not a number: {value!r}")
    return number


def whole_number(row: SourceRow, name: str, *, maximum: int) -> int:
    """A positive whole number; ``8.0`` counts, as spreadsheet exports write it so."""
    number = decimal(row, name)
    if number != number.to_integral_value() or not 0 < number <= maximum:
        raise BadRow(f"{name} must be a whole number from 1 to {maximum}, not {number}")
    return int(number)


def timestamp(row: SourceRow, name: str) -> datetime | None:
    """An ISO date or date and time, as naive UTC like every time in the database."""
    value = optional_text(row, name, 40)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRow(f"{name} is not an ISO date and time: {value!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def day(row: SourceRow, name: str) -> date:
    value = text(row, name, 40)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRow(f"{name} is not an ISO date (YYYY-MM-DD): {value!r}") from None
