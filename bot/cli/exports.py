"""Finance exports: payroll for a month, payout batches."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.common import Subcommands, command, command_group, counted, opened
from bot.runtime.settings import Settings
from storage.ledger.money import format_money

if TYPE_CHECKING:
    from storage.db.database import Database
    from storage.finance.exports import ExportBatch


def add(commands: Subcommands) -> None:
    group = command_group(commands, "export", "Write finance exports as CSV.")
    payroll = command(
        group, "payroll", "New money to collect through payroll for a month.", _export_payroll
    )
    payroll.add_argument("--month", required=True, metavar="YYYY-MM", help="the month")
    payroll.add_argument(
        "--output", type=Path, metavar="FILE", help="the file (default: payroll-YYYY-MM.csv)"
    )
    payouts = command(
        group,
        "payouts",
        "A new batch of withdrawals to pay out, or an earlier one.",
        _export_payouts,
    )
    payouts.add_argument(
        "--batch",
        type=int,
        metavar="ID",
        help="write earlier batch ID again (default: make a new batch)",
    )
    payouts.add_argument(
        "--output", type=Path, metavar="FILE", help="the file (default: payouts-ID.csv)"
    )


def _export_payroll(args: argparse.Namespace) -> int:
    from storage.finance.exports import claim_payroll

    with opened() as (settings, database):
        batch = claim_payroll(database.sessions, args.month)
        return _write(settings, database, batch, args.output or Path(f"payroll-{batch.period}.csv"))


def _export_payouts(args: argparse.Namespace) -> int:
    from storage.finance.exports import PAYOUTS, claim_payouts, find_export

    with opened() as (settings, database):
        if args.batch is not None:
            batch = find_export(database.sessions, PAYOUTS, args.batch)
        else:
            found = claim_payouts(database.sessions)
            if found is None:
                print("No payout requests are waiting; no batch was made.")
                return 0
            batch = found
        output = args.output or Path(f"payouts-{batch.export_id}.csv")
        return _write(settings, database, batch, output)


def _write(settings: Settings, database: Database, batch: ExportBatch, output: Path) -> int:
    from storage.finance.exports import write_export

    with output.open("w", encoding="utf-8", newline="") as out:
        summary = write_export(database.sessions, batch, out, currency=settings.currency)
    state = "new" if batch.created else "already exported, written again"
    total = format_money(summary.total, settings.currency)
    print(
        f"{batch.kind} {batch.period} (export {batch.export_id}, {state}): "
        f"{counted(summary.lenders, 'lender')}, {total} -> {output}"
    )
    return 0
