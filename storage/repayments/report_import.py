"""A partner's repayment report: CSV with the columns project, amount, date, reference.

``project`` is a project's reference (K1134814) or its external id; ``amount`` is in the
platform currency; ``date`` is ISO (2024-05-31), not before the loan was funded; ``reference``
is the partner's own reference for the payment, which is the idempotency key: importing a report
again pays nothing twice.

The whole report is one repayment round, recorded set-based: the file is read in batches, each
batch's projects are resolved and its instalments staged in the round's transaction, and the
round is shared out once the file ends. Nothing of the file is held but the batch at hand.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.unit_of_work import Refusal, Refused, retrying
from storage.importing.rows import (
    BATCH_SIZE,
    BadRow,
    ImportReport,
    ReportBuilder,
    SourceRow,
    batched,
    day,
    parse_rows,
    read_csv,
    text,
)
from storage.ledger.money import AmountError, parse_amount
from storage.lending.rules import LendingRules
from storage.projects.models import Project
from storage.projects.references import resolve_projects
from storage.repayments.recording import RepaymentInput, Verdict, repayment_round

COLUMNS = ("project", "amount", "date", "reference")


@dataclass(frozen=True)
class RepaymentRow:
    project: str
    amount: int
    paid_on: date
    reference: str


@dataclass(frozen=True)
class _Funded:
    reference: str
    on: date


def import_repayments(
    factory: sessionmaker[Session],
    stream: BinaryIO,
    rules: LendingRules,
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Record the instalments of a report; rows already recorded are noted, not paid again.

    The report is one round: if it loses a deadlock to another writer, nothing of it was
    committed, and it is read again from the start and recorded whole."""
    if not stream.seekable():  # a pipe: kept aside, so that a round run again reads it again
        with tempfile.TemporaryFile() as kept:
            shutil.copyfileobj(stream, kept)
            kept.seek(0)
            return import_repayments(factory, kept, rules, now=now, batch_size=batch_size)
    start = stream.tell()

    def attempt() -> ImportReport:
        stream.seek(start)
        return _import_round(factory, stream, rules, now or utcnow(), batch_size)

    return retrying(attempt)


def _import_round(
    factory: sessionmaker[Session],
    stream: BinaryIO,
    rules: LendingRules,
    moment: datetime,
    batch_size: int,
) -> ImportReport:
    rows = read_csv(stream, COLUMNS)  # a file without its columns is refused before the round
    report = ReportBuilder()
    with repayment_round(factory, rules, now=moment) as staging:
        for batch in batched(rows, batch_size):
            parsed = parse_rows(batch, lambda row: _parse(row, rules.currency, moment), report)
            instalments = _instalments(staging.session, parsed, report)
            verdicts = staging.stage([item for _line, item in instalments])
            for (line, item), verdict in zip(instalments, verdicts, strict=True):
                _tell(report, line, item, verdict)
    return report.report()


def _parse(row: SourceRow, currency: str, now: datetime) -> RepaymentRow:
    try:
        amount = parse_amount(text(row, "amount", 40), currency=currency)
    except AmountError as error:
        raise BadRow(f"amount: {error}") from None
    paid_on = day(row, "date")
    if paid_on > now.date():
        raise BadRow(f"date {paid_on} is in the future")
    return RepaymentRow(
        project=text(row, "project", 64),
        amount=amount,
        paid_on=paid_on,
        reference=text(row, "reference", 180),
    )


def _instalments(
    session: Session, parsed: list[tuple[int, RepaymentRow]], report: ReportBuilder
) -> list[tuple[int, RepaymentInput]]:
    """The batch's rows as instalments of their projects; rows naming no project, or dated
    before their loan was funded, are reported."""
    projects = resolve_projects(session, {row.project for _line, row in parsed})
    funded = _funded(session, [found for found in projects.values() if isinstance(found, int)])
    instalments = []
    for line, row in parsed:
        try:
            instalments.append((line, _instalment(row, projects[row.project], funded)))
        except BadRow as bad:
            report.skip(line, str(bad))
    return instalments


def _instalment(
    row: RepaymentRow, project: int | Refused, funded: dict[int, _Funded]
) -> RepaymentInput:
    if isinstance(project, Refused):
        raise BadRow(project.refusal.message)
    loan = funded.get(project)
    # A loan not yet funded has no date to be before; the round refuses it as not repaying.
    if loan is not None and row.paid_on < loan.on:
        raise BadRow(f"date {row.paid_on} is before {loan.reference} was funded, on {loan.on}")
    return RepaymentInput(project, row.amount, row.paid_on, row.reference)


def _funded(session: Session, project_ids: list[int]) -> dict[int, _Funded]:
    rows = session.execute(
        select(Project.id, Project.reference, Project.funded_at).where(
            Project.id.in_(sorted(set(project_ids)))
        )
    )
    return {
        project_id: _Funded(reference, funded_at.date())
        for project_id, reference, funded_at in rows
        if funded_at is not None
    }


def _tell(report: ReportBuilder, line: int, item: RepaymentInput, verdict: Verdict) -> None:
    if isinstance(verdict, Refusal):
        report.skip(line, _explain(verdict, item))
    elif verdict == "replayed":
        report.keep(line, f"already recorded (reference {item.reference})")
    else:
        report.loaded += 1


def _explain(refusal: Refusal, item: RepaymentInput) -> str:
    if refusal.code == "idempotency_conflict":
        return (
            f"reference {item.reference} was already recorded for another project, amount or date"
        )
    return refusal.message
