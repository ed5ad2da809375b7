"""Reading import files row by row, and reporting the rows that could not be used.

Files are streamed: a reader yields one ``SourceRow`` at a time, so memory stays flat however
large the file. Bytes are decoded line by line, so a line that is not UTF-8 costs only its own
row (reported with its line number) instead of the whole file. Problems that make the whole file
unusable (no header, missing columns) raise ``ImportFileError`` before anything is loaded.
"""

from __future__ import annotations

import _csv
import codecs
import csv
import json
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


@dataclass
class ReportBuilder:
    loaded: int = 0
    skipped: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    notes: list[RowProblem] = field(default_factory=list)

    def skip(self, line: int, reason: str) -> None:
        self.skipped += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(RowProblem(line, reason))

    def keep(self, line: int, note: str | None = None) -> None:
        self.unchanged += 1
        if note is not None and len(self.notes) < MAX_PROBLEMS:
            self.notes.append(RowProblem(line, note))

    def report(self) -> ImportReport:
        return ImportReport(
            loaded=self.loaded,
            skipped=self.skipped,
            unchanged=self.unchanged,
            problems=tuple(sorted(self.problems, key=lambda p: p.line)),
            notes=tuple(sorted(self.notes, key=lambda p: p.line)),
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


class _Lines:
    """The decoded physical lines of a byte stream, remembering which ones were unusable.

    Each physical line yields exactly one string, so the csv module's line count stays true;
    an unusable line yields an empty line in its place and is remembered until the row that
    contains it has been reported.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.number = 0
        self.bad: dict[int, str] = {}

    def __iter__(self) -> Iterator[str]:
        while raw := self._stream.readline(MAX_LINE_BYTES + 1):
            self.number += 1
            if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            yield self._decode(raw)

    def _decode(self, raw: bytes) -> str:
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            self._skip_rest_of_line()
            return self._refuse(f"the line is longer than {MAX_LINE_BYTES:,} bytes")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return self._refuse("the line is not UTF-8 text (save the file as UTF-8)")

    def _skip_rest_of_line(self) -> None:
        while (chunk := self._stream.readline(MAX_LINE_BYTES)) and not chunk.endswith(b"\n"):
            pass

    def _refuse(self, reason: str) -> str:
        self.bad[self.number] = reason
        return "\n"

    def problem_between(self, first: int, last: int) -> str | None:
        """The reason a row spanning these lines is unusable, forgetting lines before it."""
        reason = next((self.bad[n] for n in range(first, last + 1) if n in self.bad), None)
        for number in [n for n in self.bad if n <= last]:
            del self.bad[number]
        return reason


def read_csv(stream: BinaryIO, required: Sequence[str]) -> Iterator[SourceRow]:
    """The rows of a CSV file with a header line that must name every ``required`` column."""
    lines = _Lines(stream)
    reader = csv.reader(iter(lines), strict=True)
    header = _header(reader, lines, required)
    while True:
        first = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield SourceRow(first, {}, f"the line is not valid CSV ({error})")
            continue
        problem = lines.problem_between(first, reader.line_num)
        if cells or problem:
            yield _csv_row(first, header, cells, problem)


def _header(reader: _csv.Reader, lines: _Lines, required: Sequence[str]) -> list[str]:
    """The first non-blank row, which must be readable and name every required column."""
    try:
        cells: list[str] = []
        while not cells:
            cells = next(reader)
            # Checked before blank lines are skipped: an unreadable header reads as blank.
            if lines.problem_between(1, reader.line_num):
                raise ImportFileError("The header line is not UTF-8 text; save it as UTF-8.")
    except StopIteration:
        raise ImportFileError(
            "The file is empty: it needs a header line naming the columns."
        ) from None
    except csv.Error as error:
        raise ImportFileError(f"The header line is not valid CSV ({error}).") from None
    header = [name.strip() for name in cells]
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFileError(f"The file lacks the columns: {', '.join(missing)}.")
    return header


def _csv_row(line: int, header: list[str], cells: list[str], problem: str | None) -> SourceRow:
    if problem is None and len(cells) != len(header):
        problem = f"it has {len(cells)} values where the header names {len(header)} columns"
    return SourceRow(line, dict(zip(header, cells, strict=False)), problem)


def read_json_lines(stream: BinaryIO) -> Iterator[SourceRow]:
    """The rows of a JSON Lines file: one JSON object per line, so it can be streamed."""
    lines = _Lines(stream)
    for content in lines:
        problem = lines.problem_between(lines.number, lines.number)
        if problem is not None:
            yield SourceRow(lines.number, {}, problem)
        elif content.strip():
            yield _json_row(lines.number, content)


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
        return SourceRow(line, {key: _json_text(key, item) for key, item in value.items()})
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
