"""Loading projects and their partners, in batches of set-based inserts.

Each batch is one transaction: its partners are inserted if new, then its projects. A project
already present (by its source and the source's id) is left exactly as it is, so re-importing
a file changes nothing; the inserts also ignore conflicts, so two imports racing each other
cannot fail.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, BinaryIO

from sqlalchemy import FromClause, Table, func, or_, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.unit_of_work import transaction
from storage.importing.rows import (
    BATCH_SIZE,
    ImportFileError,
    ImportReport,
    ReportBuilder,
    SourceRow,
    batched,
    parse_rows,
    read_csv,
    read_json_lines,
)
from storage.lending.rules import LendingRules
from storage.projects.importers import generic, kiva
from storage.projects.importers.project_rows import ProjectRow
from storage.projects.models import Partner, Project, ProjectStatus
from storage.projects.references import alternative_references

# "mlimport" in ASCII: the transaction lock that serialises project imports on PostgreSQL.
IMPORT_LOCK_KEY = 0x6D6C696D706F7274


class ProjectFormat(enum.StrEnum):
    KIVA = "kiva"
    CSV = "csv"
    JSON = "json"


def import_projects(
    factory: sessionmaker[Session],
    stream: BinaryIO,
    rules: LendingRules,
    *,
    fmt: ProjectFormat = ProjectFormat.KIVA,
    usd_rate: Decimal | None = None,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Load the projects of a file; bad rows are reported and skipped, good rows load.

    Kiva amounts are in USD and need ``usd_rate`` (platform currency per USD); the generic
    formats give amounts in the platform currency. Raises ``ImportFileError`` when the file as
    a whole is unusable, before anything is loaded.
    """
    rows, parse = _reader(stream, rules, fmt, usd_rate)
    moment = now or utcnow()
    report = ReportBuilder()
    with transaction(factory) as session:
        # Projects inserted by this import have ids above this mark: a row whose source id
        # is found there repeats an earlier line of the file (or, rarely, a concurrent import
        # loaded it first). Remembering every id of a huge file would make memory grow with it.
        mark = session.execute(select(func.coalesce(func.max(Project.id), 0))).scalar_one()
    for batch in batched(rows, batch_size):
        parsed = parse_rows(batch, parse, report)
        with transaction(factory) as session:
            _store(session, parsed, report, mark=mark, rules=rules, now=moment)
    return report.report()


def _reader(
    stream: BinaryIO, rules: LendingRules, fmt: ProjectFormat, usd_rate: Decimal | None
) -> tuple[Iterable[SourceRow], Callable[[SourceRow], ProjectRow]]:
    if fmt is ProjectFormat.KIVA:
        if usd_rate is None:
            raise ImportFileError("Kiva amounts are in USD: give the USD exchange rate.")
        kiva.check_rate(usd_rate)
        return read_csv(stream, kiva.COLUMNS), partial(kiva.parse_row, usd_rate=usd_rate)
    if usd_rate is not None:
        raise ImportFileError("Only Kiva files are in USD; csv and json amounts need no rate.")
    parse = partial(generic.parse_row, currency=rules.currency)
    if fmt is ProjectFormat.CSV:
        return read_csv(stream, generic.REQUIRED), parse
    return read_json_lines(stream), parse


def _store(
    session: Session,
    parsed: list[tuple[int, ProjectRow]],
    report: ReportBuilder,
    *,
    mark: int,
    rules: LendingRules,
    now: datetime,
) -> None:
    _one_import_at_a_time(session)
    fresh = _fresh_rows(session, parsed, report, mark)
    if not fresh:
        return
    partners = _partner_ids(session, [row for _line, row in fresh])
    deadline = now + timedelta(days=rules.fundraising_days)
    values = [_project_values(row, partners, deadline, now) for _line, row in fresh]
    inserted = {
        (source, external_id)
        for source, external_id in session.execute(
            _insert_ignoring_conflicts(session, Project.__table__).returning(
                Project.source, Project.external_id
            ),
            values,
        )
    }
    report.loaded += len(inserted)
    for line, row in fresh:
        if (row.source, row.external_id) not in inserted:
            report.keep(line)


def _one_import_at_a_time(session: Session) -> None:
    """Two imports at once could each take a reference the other makes an external id."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})


@dataclass
class _Known:
    """What the database and the batch so far hold that a new row could collide with."""

    ids: dict[tuple[str, str], int]
    references: set[str]
    external_ids: set[str]

    def taken(self, reference: str) -> bool:
        # A reference must never read as another project's source id.
        return reference in self.references or reference in self.external_ids

    def add(self, row: ProjectRow) -> None:
        self.ids[(row.source, row.external_id)] = 0
        self.references.add(row.reference)
        self.external_ids.add(row.external_id)


def _fresh_rows(
    session: Session, parsed: list[tuple[int, ProjectRow]], report: ReportBuilder, mark: int
) -> list[tuple[int, ProjectRow]]:
    """The rows to insert: not present in their source, not repeated, each with a reference of
    its own that no project's source id can be mistaken for."""
    known = _present(session, [row for _line, row in parsed])
    fresh: list[tuple[int, ProjectRow]] = []
    for line, row in parsed:
        earlier = known.ids.get((row.source, row.external_id))
        if earlier is not None and (earlier == 0 or earlier > mark):
            report.skip(line, f"external id {row.external_id} repeats an earlier line")
        elif earlier is not None:
            report.keep(line)
        elif row.external_id in known.references:
            report.skip(
                line,
                f"its id {row.external_id} is the reference of another project; a source id "
                "must not read as a microlend reference (change the id in the file)",
            )
        else:
            row = _with_free_reference(session, row, known)
            fresh.append((line, row))
            known.add(row)
    return fresh


def _with_free_reference(session: Session, row: ProjectRow, known: _Known) -> ProjectRow:
    if not known.taken(row.reference):
        return row
    candidates = alternative_references(row.reference)
    stored = _taken_in_database(session, candidates)
    free = next(ref for ref in candidates if ref not in stored and not known.taken(ref))
    return replace(row, reference=free)


def _taken_in_database(session: Session, references: list[str]) -> set[str]:
    found = session.execute(
        select(Project.reference, Project.external_id).where(
            or_(Project.reference.in_(references), Project.external_id.in_(references))
        )
    )
    return {value for pair in found for value in pair}


def _present(session: Session, rows: list[ProjectRow]) -> _Known:
    """Projects already stored that share a source id or a reference with the rows."""
    wanted = {(row.source, row.external_id) for row in rows}
    texts = {row.reference for row in rows} | {row.external_id for row in rows}
    found = session.execute(
        select(Project.source, Project.external_id, Project.id, Project.reference).where(
            or_(
                tuple_(Project.source, Project.external_id).in_(wanted),
                Project.reference.in_(texts),
                Project.external_id.in_(texts),
            )
        )
    )
    known = _Known({}, set(), set())
    for source, external_id, project_id, reference in found:
        if (source, external_id) in wanted:
            known.ids[(source, external_id)] = project_id
        known.references.add(reference)
        known.external_ids.add(external_id)
    return known


def _partner_ids(session: Session, rows: list[ProjectRow]) -> dict[str, int]:
    """The ids of the rows' partners, inserting those not seen before (first row wins)."""
    wanted = {row.partner.external_id: row.partner for row in reversed(rows)}
    session.execute(
        _insert_ignoring_conflicts(session, Partner.__table__),
        [asdict(partner) for partner in wanted.values()],
    )
    found = session.execute(
        select(Partner.external_id, Partner.id).where(Partner.external_id.in_(wanted))
    )
    return {external_id: partner_id for external_id, partner_id in found}


def _project_values(
    row: ProjectRow, partners: dict[str, int], deadline: datetime, now: datetime
) -> dict[str, Any]:
    values = asdict(row)
    del values["partner"]
    # A source deadline still ahead is kept; otherwise the project opens now for the
    # programme's standard fundraising window.
    if row.deadline is None or row.deadline <= now:
        values["deadline"] = deadline
    return values | {
        "partner_id": partners[row.partner.external_id],
        "status": ProjectStatus.FUNDRAISING,
        "funded": 0,
        "repaid": 0,
        "lost": 0,
    }


def _insert_ignoring_conflicts(session: Session, table: FromClause) -> Any:
    assert isinstance(table, Table)  # a model's __table__ is typed as any FromClause
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    return dialect.insert(table).on_conflict_do_nothing()
