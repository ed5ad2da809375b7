"""A partner's repayment report: every line recorded, noted as already recorded, or reported by
its line number; importing a report again pays nothing twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import os
import tracemalloc
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.importing import rows
from storage.importing.rows import ImportFileError, ImportReport, RowProblem
from storage.ledger.accounts import lender_balance
from storage.ledger.models import AccountKind
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.models import Project
from storage.repayments.report_import import import_repayments
from tests.factories import make_lender, make_project


def funded_project(db: Database) -> tuple[int, list[int]]:
    """A 400.00 project fully lent by two lenders, ready to be repaid."""
    project_id = make_project(db, 40_000)
    lenders = [make_lender(db), make_lender(db)]
    for number, lender in enumerate(lenders):
        request = PledgeRequest(lender, project_id, 20_000)
        assert pledge(db.sessions, request, LendingRules(), key=f"fund:{project_id}:{number}").ok
    return project_id, lenders


def repayments_file(*rows: tuple[str, str, str, str]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([("project", "amount", "date", "reference"), *rows])
    return out.getvalue().encode()


def repay(db: Database, data: bytes) -> ImportReport:
    return import_repayments(db.sessions, io.BytesIO(data), LendingRules())


def test_a_repayment_report_imported_twice_pays_once(db: Database) -> None:
    project_id, lenders = funded_project(db)
    with db.sessions() as session:
        project = session.get(Project, project_id)
        assert project is not None
        reference, external_id = project.reference, project.external_id
    today = date.today().isoformat()
    data = repayments_file(
        (reference.lower(), "50.00", today, "MFI-2024-001"),
        (external_id, "30,00", today, "MFI-2024-002"),
        ("NOPE", "10.00", today, "MFI-2024-003"),
        (reference, "ten", today, "MFI-2024-004"),
        (reference, "10.00", "2999-01-01", "MFI-2024-005"),
        (reference, "500.00", today, "MFI-2024-006"),
    )
    first = repay(db, data)
    assert (first.loaded, first.skipped, first.unchanged) == (2, 4, 0)
    assert [(p.line, p.reason.split(":")[0]) for p in first.problems] == [
        (4, "There is no project “NOPE”."),
        (5, "amount"),
        (6, "date 2999-01-01 is in the future"),
        (7, f"{reference} has €320.00 outstanding; a repayment must be positive and at most that."),
    ]

    second = repay(db, data)
    assert (second.loaded, second.unchanged) == (0, 2)
    assert second.notes == (
        RowProblem(2, "already recorded (reference MFI-2024-001)"),
        RowProblem(3, "already recorded (reference MFI-2024-002)"),
    )
    with db.sessions() as session:
        assert session.get(Project, project_id).repaid == 8_000  # type: ignore[union-attr]
        credits = [lender_balance(session, lender, AccountKind.AVAILABLE) for lender in lenders]
    assert credits == [4_000, 4_000]


def test_a_reference_reused_for_another_payment_is_refused(db: Database) -> None:
    project_id, _lenders = funded_project(db)
    reference = project_by_id_reference(db, project_id)
    today = date.today().isoformat()
    repay(db, repayments_file((reference, "50.00", today, "R1")))
    report = repay(
        db,
        repayments_file(
            (reference, "60.00", today, "R1"),
            (reference, "10.00", today, "R2"),
            (reference, "10.00", today, "R2"),  # the same line twice: recorded once
            (reference, "11.00", today, "R2"),
        ),
    )
    assert (report.loaded, report.unchanged, report.skipped) == (1, 1, 2)
    conflict = "was already recorded for another project, amount or date"
    assert report.problems == (
        RowProblem(2, f"reference R1 {conflict}"),
        RowProblem(5, f"reference R2 {conflict}"),
    )
    assert report.notes == (RowProblem(4, "already recorded (reference R2)"),)


def project_by_id_reference(db: Database, project_id: int) -> str:
    with db.sessions() as session:
        return session.execute(
            select(Project.reference).where(Project.id == project_id)
        ).scalar_one()


def test_a_repayment_report_needs_its_columns(sqlite_db: Database) -> None:
    with pytest.raises(ImportFileError, match="reference"):
        repay(sqlite_db, b"project,amount,date\nK1,10.00,2024-01-01\n")


def today() -> str:
    return utcnow().date().isoformat()


def test_a_stray_quote_costs_only_its_own_line(db: Database) -> None:
    """The issue's report: 52 rows, one unbalanced quote on line 3; the 50 after it load."""
    reference = project_by_id_reference(db, funded_project(db)[0])
    rows = [(reference, "1.00", today(), f"PAY-{number}") for number in range(52)]
    data = repayments_file(*rows).replace(b"PAY-1\r", b'PAY-1"\r', 1)
    report = repay(db, data)
    assert (report.loaded, report.unchanged, report.skipped) == (51, 0, 1)
    assert report.problems == (RowProblem(3, "a quote opened on this line is never closed"),)


def test_a_value_with_a_nul_character_is_a_bad_row_on_either_database(db: Database) -> None:
    reference = project_by_id_reference(db, funded_project(db)[0])
    report = repay(
        db,
        repayments_file(
            (reference, "1.00", today(), "R\x001"),
            (reference + "\x00", "1.00", today(), "R2"),
            (reference, "1.00", today(), "R3"),
        ),
    )
    assert (report.loaded, report.skipped) == (1, 2)
    assert report.problems == (
        RowProblem(2, "reference contains a NUL character"),
        RowProblem(3, "project contains a NUL character"),
    )


def test_a_date_before_the_loan_was_funded_is_refused(db: Database) -> None:
    project_id, _lenders = funded_project(db)
    reference = project_by_id_reference(db, project_id)
    with db.sessions() as session:
        funded_at = session.get_one(Project, project_id).funded_at
    assert funded_at is not None
    funded_on = funded_at.date()
    before = (funded_on - timedelta(days=1)).isoformat()
    report = repay(
        db,
        repayments_file(
            (reference, "1.00", before, "EARLY"),
            (reference, "1.00", funded_on.isoformat(), "SAME-DAY"),
        ),
    )
    assert (report.loaded, report.skipped) == (1, 1)
    assert report.problems == (
        RowProblem(2, f"date {before} is before {reference} was funded, on {funded_on}"),
    )


def test_a_column_named_twice_refuses_the_report_and_nothing_is_paid(db: Database) -> None:
    project_id, _lenders = funded_project(db)
    reference = project_by_id_reference(db, project_id)
    data = f"project,amount,date,reference,amount\n{reference},1.00,{today()},R1,2.00\n"
    with pytest.raises(ImportFileError, match="names the column amount more than once"):
        repay(db, data.encode())
    with db.sessions() as session:
        assert session.get_one(Project, project_id).repaid == 0


def test_a_line_after_the_one_that_repaid_the_loan_finds_it_repaid(db: Database) -> None:
    reference = project_by_id_reference(db, funded_project(db)[0])
    report = repay(
        db,
        repayments_file(
            (reference, "400.00", today(), "ALL"), (reference, "1.00", today(), "MORE")
        ),
    )
    assert (report.loaded, report.skipped) == (1, 1)
    assert report.problems == (
        RowProblem(3, f"{reference} is repaid; only funded loans are repaid."),
    )


def test_the_problems_kept_are_the_first_lines_however_they_were_found(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows, "MAX_PROBLEMS", 2)
    reference = project_by_id_reference(db, funded_project(db)[0])
    report = repay(
        db,
        repayments_file(
            (reference, "401.00", today(), "TOO-MUCH"),  # refused when it is recorded
            (reference, "ten", today(), "NOT-A-NUMBER"),  # refused when it is read
            (reference, "eleven", today(), "NOT-A-NUMBER-EITHER"),
        ),
    )
    assert report.skipped == 3
    assert [problem.line for problem in report.problems] == [2, 3]


def statements_importing(db: Database, data: bytes) -> int:
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", counted)
    try:
        report = repay(db, data)
    finally:
        event.remove(db.engine, "before_cursor_execute", counted)
    assert report.skipped == 0
    return count


def test_a_report_is_recorded_set_based(db: Database) -> None:
    """As many statements for 30 instalments as for 10: one round, not one per line."""
    references = [project_by_id_reference(db, funded_project(db)[0]) for _ in range(30)]
    few = statements_importing(
        db, repayments_file(*[(ref, "1.00", today(), f"A-{ref}") for ref in references[:10]])
    )
    many = statements_importing(
        db, repayments_file(*[(ref, "1.00", today(), f"B-{ref}") for ref in references])
    )
    assert few == many and many <= 40, (few, many)


def peak_memory_importing(db: Database, reference: str, lines: int) -> int:
    # Every line is read, resolved and checked in the round, then refused as too much.
    data = repayments_file(*[(reference, "999.00", today(), f"M-{n}") for n in range(lines)])
    tracemalloc.start()
    try:
        report = import_repayments(db.sessions, io.BytesIO(data), LendingRules(), batch_size=250)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert report.skipped == lines


def test_memory_stays_flat_however_long_the_report(sqlite_db: Database) -> None:
    reference = project_by_id_reference(sqlite_db, funded_project(sqlite_db)[0])
    peak_memory_importing(sqlite_db, reference, 250)  # fill SQLAlchemy's statement caches
    small = peak_memory_importing(sqlite_db, reference, 2_000)
    large = peak_memory_importing(sqlite_db, reference, 8_000)
    assert large < small * 1.5, (small, large)


def test_a_report_read_from_a_pipe_can_be_read_again(db: Database) -> None:
    """`microlend import repayments /dev/stdin`: a pipe cannot seek back for a retried round."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"project,amount,date,reference\nNOSUCH,10.00,2026-01-05,R-1\n")
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = import_repayments(db.sessions, pipe, LendingRules())
    assert report.skipped == 1 and report.loaded == 0
