"""An import's counts add up to the file's data lines however the file is damaged: every line
is loaded, unchanged, or reported with its number. Both importers, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.importing.rows import MAX_PROBLEMS, ImportReport
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.importers.generic import REQUIRED
from storage.projects.importers.loader import ProjectFormat, import_projects
from storage.projects.models import Project
from storage.repayments.report_import import import_repayments
from tests.factories import make_lender, make_project
from tests.storage.importing.corruption import corrupted, data_lines

Importer = Callable[[Database, bytes], ImportReport]
PROJECT_VALUES = {
    "borrower": "Maria Quispe",
    "purpose": "to buy wool",
    "country_code": "PE",
    "country": "Peru",
    "sector": "Arts",
    "activity": "Weaving",
    "amount": "1250.50",
    "term_months": "12",
    "repayment_interval": "monthly",
    "partner_id": "mfi-7",
}


def projects_file(lines: int) -> bytes:
    header = ",".join(REQUIRED) + "\n"
    rows = (
        ",".join(PROJECT_VALUES.get(name, f"MFI-{number}") for name in REQUIRED) + "\n"
        for number in range(lines)
    )
    return (header + "".join(rows)).encode()


def repayments_file(references: list[str], lines: int) -> bytes:
    day = utcnow().date().isoformat()
    rows = (
        f"{references[number % len(references)]},0.01,{day},PAY-{number}\n"
        for number in range(lines)
    )
    return ("project,amount,date,reference\n" + "".join(rows)).encode()


def import_project_file(db: Database, data: bytes) -> ImportReport:
    return import_projects(db.sessions, io.BytesIO(data), LendingRules(), fmt=ProjectFormat.CSV)


def import_repayment_file(db: Database, data: bytes) -> ImportReport:
    return import_repayments(db.sessions, io.BytesIO(data), LendingRules())


def funded_references(db: Database, count: int) -> list[str]:
    references = []
    for _ in range(count):
        project_id = make_project(db, 10_000)
        request = PledgeRequest(make_lender(db), project_id, 10_000)
        assert pledge(db.sessions, request, LendingRules(), key=f"fund:{project_id}").ok
        with db.sessions() as session:
            references.append(session.get_one(Project, project_id).reference)
    return references


@pytest.fixture(params=["projects", "repayments"])
def importer(request: pytest.FixtureRequest, db: Database) -> tuple[Importer, bytes]:
    """An import and a valid file for it, whose lines hold no quote."""
    if request.param == "projects":
        return import_project_file, projects_file(20)
    return import_repayment_file, repayments_file(funded_references(db, 4), 20)


def assert_adds_up(report: ImportReport, data: bytes) -> None:
    lines = data_lines(data)
    assert report.loaded + report.unchanged + report.skipped == len(lines), report
    reported = [problem.line for problem in report.problems]
    assert len(reported) == min(report.skipped, MAX_PROBLEMS)
    assert reported == sorted(set(reported)) and set(reported) <= set(lines), report


def test_the_counts_add_up_to_the_data_lines_of_a_damaged_file(
    db: Database, importer: tuple[Importer, bytes]
) -> None:
    run, valid = importer

    # The strategy needs the fixture's file, so the property is given inside the test.
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(corrupted(valid))
    def adds_up(data: bytes) -> None:
        assert_adds_up(run(db, data), data)

    adds_up()
