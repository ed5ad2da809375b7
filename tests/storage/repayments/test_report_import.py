"""A partner's repayment report: every line recorded, noted as already recorded, or reported by
its line number; importing a report again pays nothing twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlalchemy import select

from storage.db.database import Database
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
        assert pledge(db.sessions, request, LendingRules(), key=f"fund:{number}").ok
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


def test_a_reference_reused_for_another_payment_is_refused(sqlite_db: Database) -> None:
    project_id, _lenders = funded_project(sqlite_db)
    reference = project_by_id_reference(sqlite_db, project_id)
    today = date.today().isoformat()
    repay(sqlite_db, repayments_file((reference, "50.00", today, "R1")))
    report = repay(sqlite_db, repayments_file((reference, "60.00", today, "R1")))
    assert report.problems == (
        RowProblem(2, "reference R1 was already recorded for another project, amount or date"),
    )


def project_by_id_reference(db: Database, project_id: int) -> str:
    with db.sessions() as session:
        return session.execute(
            select(Project.reference).where(Project.id == project_id)
        ).scalar_one()


def test_a_repayment_report_needs_its_columns(sqlite_db: Database) -> None:
    with pytest.raises(ImportFileError, match="reference"):
        repay(sqlite_db, b"project,amount,date\nK1,10.00,2024-01-01\n")
