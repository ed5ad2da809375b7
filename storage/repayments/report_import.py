"""A partner's repayment report: CSV with the columns project, amount, date, reference.

``project`` is a project's reference (K1134814) or its external id; ``amount`` is in the
platform currency; ``date`` is ISO (2024-05-31); ``reference`` is the partner's own reference for
the payment, which is the idempotency key: importing a report again pays nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.unit_of_work import Refusal, Refused, transaction
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
from storage.projects.references import resolve_projects
from storage.repayments.recording import RepaymentInput, record_repayment

COLUMNS = ("project", "amount", "date", "reference")


@dataclass(frozen=True)
class RepaymentRow:
    project: str
    amount: int
    paid_on: date
    reference: str


def import_repayments(
    factory: sessionmaker[Session],
    stream: BinaryIO,
    rules: LendingRules,
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Record each instalment of a report; rows already recorded are noted, not paid again."""
    moment = now or utcnow()
    report = ReportBuilder()
    for batch in batched(read_csv(stream, COLUMNS), batch_size):
        parsed = parse_rows(batch, lambda row: _parse(row, rules.currency, moment), report)
        with transaction(factory) as session:
            projects = resolve_projects(session, {row.project for _line, row in parsed})
        for line, row in parsed:
            _record(factory, line, row, projects, rules, moment, report)
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


def _record(
    factory: sessionmaker[Session],
    line: int,
    row: RepaymentRow,
    projects: dict[str, int | Refused],
    rules: LendingRules,
    now: datetime,
    report: ReportBuilder,
) -> None:
    project_id = projects[row.project]
    if isinstance(project_id, Refused):
        report.skip(line, project_id.refusal.message)
        return
    item = RepaymentInput(project_id, row.amount, row.paid_on, row.reference)
    outcome = record_repayment(factory, item, rules, now=now)
    if outcome.refusal is not None:
        report.skip(line, _explain(outcome.refusal, row))
    elif outcome.replayed:
        report.keep(line, f"already recorded (reference {row.reference})")
    else:
        report.loaded += 1


def _explain(refusal: Refusal, row: RepaymentRow) -> str:
    if refusal.code == "idempotency_conflict":
        return f"reference {row.reference} was already recorded for another project, amount or date"
    return refusal.message
