"""Reading import files: every line of a file ends up a row or a problem with its line number,
however the file is broken; records may span lines only inside a quoted field."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings

from storage.importing.rows import (
    MAX_RECORD_LINES,
    ImportFileError,
    SourceRow,
    read_csv,
    read_json_lines,
)
from tests.storage.importing.corruption import corrupted, data_lines

COLUMNS = ("project", "amount", "date", "reference")
HEADER = b"project,amount,date,reference\n"
UNCLOSED = "a quote opened on this line is never closed"


def data_line(number: int) -> bytes:
    return f"T{number},1.00,2026-12-01,R-{number}\n".encode()


def report(lines: int) -> bytes:
    return HEADER + b"".join(data_line(number) for number in range(lines))


def rows_of(data: bytes) -> list[SourceRow]:
    return list(read_csv(io.BytesIO(data), COLUMNS))


def problems(rows: list[SourceRow]) -> list[tuple[int, str | None]]:
    return [(row.line, row.problem) for row in rows if row.problem is not None]


def test_a_stray_quote_costs_only_its_own_line() -> None:
    data = report(52).replace(b"T1,", b'T1",', 1)  # line 3
    rows = rows_of(data)
    assert [row.line for row in rows] == list(range(2, 54))
    assert problems(rows) == [(3, UNCLOSED)]
    assert rows[-1].values["reference"] == "R-51"


def test_a_quoted_field_may_span_lines_up_to_the_bound() -> None:
    inside = "\n".join(f"part {n}" for n in range(MAX_RECORD_LINES))
    data = HEADER + f'T0,1.00,2026-12-01,"{inside}"\n'.encode() + data_line(1)
    rows = rows_of(data)
    assert [(row.line, row.problem) for row in rows] == [(2, None), (2 + MAX_RECORD_LINES, None)]
    assert rows[0].values["reference"] == inside


def test_a_quote_closed_beyond_the_bound_is_never_closed_and_the_lines_after_it_are_rows() -> None:
    inside = "\n".join(f"T{n},1.00,2026-12-01,R-{n}" for n in range(MAX_RECORD_LINES + 1))
    data = HEADER + f'X,1.00,2026-12-01,"{inside}"\n'.encode()
    rows = rows_of(data)
    assert problems(rows)[0] == (2, UNCLOSED)
    assert [row.line for row in rows] == list(range(2, 3 + MAX_RECORD_LINES))
    # The line after the quote is read again, as the row it is.
    assert rows[1].values == {
        "project": "T1",
        "amount": "1.00",
        "date": "2026-12-01",
        "reference": "R-1",
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'T1,1.00,"2026-12-01" x,R\n', "the line is not valid CSV"),
        (b'T1,a"b,c,R\n', UNCLOSED),  # a quote inside a plain value opens nothing
        (b"T1,1.00,2026-12-01,R\rX\n", "the line is not valid CSV"),
    ],
)
def test_a_broken_line_between_good_ones_is_reported_alone(line: bytes, reason: str) -> None:
    # The lines after it close no quote of its: each is read as a row of its own.
    rows = rows_of(HEADER + data_line(0) + line + data_line(2) + b'T3,"x\ny",d,R-3\n')
    assert [row.line for row in rows] == [2, 3, 4, 5]
    [(number, problem)] = problems(rows)
    assert number == 3 and problem is not None and problem.startswith(reason), problem


def test_a_value_with_a_nul_character_is_a_bad_row() -> None:
    rows = rows_of(report(3).replace(b"R-1", b"R-\x001"))
    assert problems(rows) == [(3, "reference contains a NUL character")]


@pytest.mark.parametrize(
    ("value", "reason"),
    [("to buy\u0000seeds", "use contains a NUL character"), ("\ud800", "use is not Unicode text")],
)
def test_a_json_value_that_no_database_can_store_is_a_bad_row(value: str, reason: str) -> None:
    data = json.dumps({"id": "1", "use": "ok"}) + "\n" + json.dumps({"id": "2", "use": value})
    rows = list(read_json_lines(io.BytesIO(data.encode())))
    assert [(row.line, row.problem) for row in rows] == [(1, None), (2, reason)]


@pytest.mark.parametrize(
    ("header", "named"),
    [
        (b"project,amount,date,reference,amount\n", "amount"),
        (b"project,date, date,reference\n", "date"),
    ],
)
def test_a_column_named_twice_refuses_the_file(header: bytes, named: str) -> None:
    with pytest.raises(ImportFileError, match=f"names the column {named} more than once"):
        rows_of(header + data_line(0))


def test_a_header_with_an_unclosed_quote_refuses_the_file() -> None:
    with pytest.raises(ImportFileError, match="The header line cannot be read"):
        rows_of(b'project,"amount,date,reference\n' + data_line(0))


# Any corruption --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(corrupted(report(30)))
def test_every_line_of_a_corrupted_file_is_a_row_or_a_problem(data: bytes) -> None:
    assert [row.line for row in rows_of(data)] == data_lines(data)
