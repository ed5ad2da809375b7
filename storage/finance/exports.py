"""Finance exports: new money to collect through payroll each month, and payout batches.

An export *claims* its rows: one transaction creates the ``Export`` and stamps its id on every
row it takes, with a conditional UPDATE that only takes unclaimed rows, so no row can ever be in
two exports, even when two exports run at once. Rendering reads the claimed rows back, so
exporting the same month (or batch) again writes the same file, byte for byte, as long as the
lenders' names have not changed in between.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    cast,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.engine import rowcount
from storage.db.unit_of_work import retried, transaction
from storage.finance.models import Export
from storage.installations.models import Workspace
from storage.lending.models import Lender, PayoutRequest, Pledge

PAYROLL = "payroll"
PAYOUTS = "payouts"
HEADER = ("slack_user_id", "workspace", "display_name", "amount", "currency")
# Matched whole (fullmatch): "$" would let a trailing newline through, and \d any script's
# digits, each making a second export of a month under another name.
MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
# A cell starting with one of these is a formula to a spreadsheet; names come from Slack
# profiles, so they are defused with a leading apostrophe before finance opens the file.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
STREAM_ROWS = 1_000


class ExportRefused(ValueError):
    """The export cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class ExportBatch:
    export_id: int
    kind: str
    period: str
    # False when the export already existed and is only being written again.
    created: bool


@dataclass(frozen=True)
class ExportSummary:
    lenders: int
    total: int


@dataclass(frozen=True)
class _Source:
    """Where an export kind takes its rows from: whose money, how much, which export owns it."""

    lender: InstrumentedAttribute[int]
    amount: InstrumentedAttribute[int]
    export: InstrumentedAttribute[int | None]


SOURCES = {
    PAYROLL: _Source(Pledge.lender_id, Pledge.from_payroll, Pledge.payroll_export_id),
    PAYOUTS: _Source(PayoutRequest.lender_id, PayoutRequest.amount, PayoutRequest.export_id),
}


def claim_payroll(
    factory: sessionmaker[Session], month: str, *, now: datetime | None = None
) -> ExportBatch:
    """The payroll export of ``month`` (YYYY-MM): every unclaimed pledge of new money made
    before the month ended. A month already exported is returned as it was; a month is
    exported even when nobody pledged, so finance gets a file for every month it asks."""
    moment = now or utcnow()
    end = _month_end(month, moment)
    claimable = (Pledge.from_payroll > 0) & (Pledge.created_at < end)
    return _claim(factory, PAYROLL, month, claimable, now=moment, require_rows=False)


def claim_payouts(
    factory: sessionmaker[Session], *, now: datetime | None = None
) -> ExportBatch | None:
    """A new batch of every payout request not yet exported; None when there are none."""
    moment = now or utcnow()
    period = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    try:
        return _claim(factory, PAYOUTS, period, true(), now=moment, require_rows=True)
    except _NothingToClaim:
        return None


def find_export(factory: sessionmaker[Session], kind: str, export_id: int) -> ExportBatch:
    with transaction(factory) as session:
        found = session.get(Export, export_id)
        if found is None or found.kind != kind:
            raise ExportRefused(f"There is no {kind} export {export_id}.")
        return ExportBatch(found.id, found.kind, found.period, created=False)


def write_export(
    factory: sessionmaker[Session], batch: ExportBatch, out: TextIO, *, currency: str
) -> ExportSummary:
    """Write the claimed rows as CSV, one line per lender, in a stable order."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    lenders = total = 0
    with transaction(factory) as session:
        rows = session.execute(
            _per_lender(SOURCES[batch.kind], batch.export_id),
            execution_options={"yield_per": STREAM_ROWS},
        )
        for user_id, org_key, name, amount in rows:
            cells = [_cell(user_id), _cell(org_key), _cell(name), decimal_text(amount), currency]
            writer.writerow(cells)
            lenders, total = lenders + 1, total + amount
    return ExportSummary(lenders, total)


def decimal_text(cents: int) -> str:
    """Cents as a plain decimal with two places (1234.50), by integer arithmetic only."""
    units, hundredths = divmod(abs(cents), 100)
    return f"{'-' if cents < 0 else ''}{units}.{hundredths:02d}"


def _month_end(month: str, now: datetime) -> datetime:
    match = MONTH.fullmatch(month)
    if match is None:
        raise ExportRefused(f"{month!r} is not a month: write it as YYYY-MM, like 2024-05.")
    year, number = int(match[1]), int(match[2])
    if year == 0:
        raise ExportRefused(f"{month} is not a month: there is no year 0.")
    if datetime(year, number, 1) > now:
        raise ExportRefused(f"{month} has not begun yet; only past or current months export.")
    return datetime(year + number // 12, number % 12 + 1, 1)


class _NothingToClaim(Exception):
    """Raised to roll back an export that would claim no rows."""


# The claim takes many rows at once; if a concurrent writer deadlocks it, it runs again.
@retried
def _claim(
    factory: sessionmaker[Session],
    kind: str,
    period: str,
    claimable: ColumnElement[bool],
    *,
    now: datetime,
    require_rows: bool,
) -> ExportBatch:
    source = SOURCES[kind]
    try:
        with transaction(factory) as session:
            earlier = _existing(session, kind, period)
            if earlier is not None:
                return earlier
            batch = _new_export(session, kind, period, now)
            claimed = rowcount(
                session.execute(
                    update(source.export.class_)
                    .where(source.export.is_(None), claimable)
                    .values({source.export.key: batch.export_id})
                    .execution_options(synchronize_session=False)
                )
            )
            if require_rows and not claimed:
                raise _NothingToClaim
            return batch
    except IntegrityError:
        # A concurrent run created this export a moment ago: its claim is the one that counts.
        with transaction(factory) as session:
            earlier = _existing(session, kind, period)
        if earlier is None:
            raise
        return earlier


def _existing(session: Session, kind: str, period: str) -> ExportBatch | None:
    found = session.execute(
        select(Export.id).where(Export.kind == kind, Export.period == period)
    ).scalar_one_or_none()
    return None if found is None else ExportBatch(found, kind, period, created=False)


def _new_export(session: Session, kind: str, period: str, now: datetime) -> ExportBatch:
    export_id = session.execute(
        insert(Export).values(kind=kind, period=period, created_at=now).returning(Export.id)
    ).scalar_one()
    return ExportBatch(export_id, kind, period, created=True)


def _per_lender(source: _Source, export_id: int) -> Select[str, str, str, int]:
    return (
        select(
            Lender.slack_user_id,
            Workspace.org_key,
            Lender.display_name,
            # PostgreSQL sums bigints as numeric; the cast keeps amounts integers.
            cast(func.sum(source.amount), BigInteger),
        )
        .select_from(source.export.class_)
        .join(Lender, Lender.id == source.lender)
        .join(Workspace, Workspace.id == Lender.workspace_id)
        .where(source.export == export_id)
        .group_by(Lender.id, Lender.slack_user_id, Workspace.org_key, Lender.display_name)
        .order_by(Workspace.org_key, Lender.slack_user_id, Lender.id)
    )


def _cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value
