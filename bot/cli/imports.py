"""Imports: projects and partners, and partners' repayment reports."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.common import (
    Choices,
    CommandError,
    Subcommands,
    command,
    command_group,
    counted,
    opened,
)

if TYPE_CHECKING:
    from storage.importing.rows import ImportReport
    from storage.projects.importers.loader import ProjectFormat


def add(commands: Subcommands) -> None:
    group = command_group(commands, "import", "Import projects or a partner's repayment report.")
    projects = command(
        group, "projects", "Import projects and their partners from a file.", _import_projects
    )
    projects.add_argument("file", type=Path, help="the file to import")
    projects.add_argument(
        "--format",
        choices=Choices(_formats),
        default="kiva",
        metavar="FORMAT",
        help="kiva: Kiva's loan data; csv or json (JSON Lines): microlend's format",
    )
    projects.add_argument(
        "--usd-rate",
        type=_rate,
        metavar="R",
        help="how much of the platform currency one USD buys (Kiva amounts are in USD; "
        "default: 1 if MICROLEND_CURRENCY is USD, else required for Kiva files)",
    )
    repayments = command(
        group,
        "repayments",
        "Record a partner's repayments: CSV with project, amount, date, reference.",
        _import_repayments,
    )
    repayments.add_argument("file", type=Path, help="the partner's report")


def _formats() -> Iterator[str]:
    from storage.projects.importers.loader import ProjectFormat

    return (fmt.value for fmt in ProjectFormat)


def _rate(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number, like 0.92") from None


def _import_projects(args: argparse.Namespace) -> int:
    from storage.projects.importers.loader import ProjectFormat, import_projects

    fmt = ProjectFormat(args.format)
    with opened() as (settings, database), args.file.open("rb") as stream:
        rate = _usd_rate(fmt, args.usd_rate, settings.currency)
        report = import_projects(database.sessions, stream, settings.rules, fmt=fmt, usd_rate=rate)
    return _print_report(report, "project")


def _usd_rate(fmt: ProjectFormat, given: Decimal | None, currency: str) -> Decimal | None:
    """Kiva's USD amounts need a rate, which a USD deployment need not give."""
    from storage.projects.importers.loader import ProjectFormat

    if fmt is not ProjectFormat.KIVA or given is not None:
        return given
    if currency == "USD":
        return Decimal(1)
    raise CommandError(f"Kiva amounts are in USD: give --usd-rate, the {currency} one USD buys.")


def _import_repayments(args: argparse.Namespace) -> int:
    from storage.repayments.report_import import import_repayments

    with opened() as (settings, database), args.file.open("rb") as stream:
        report = import_repayments(database.sessions, stream, settings.rules)
    return _print_report(report, "repayment")


def _print_report(report: ImportReport, noun: str) -> int:
    """The counts on stdout, every skipped row on stderr; exit 1 if any row was skipped."""
    loaded = counted(report.loaded, noun)
    print(f"Loaded {loaded}; {report.unchanged:,} unchanged; {report.skipped:,} skipped.")
    for note in report.notes:
        print(f"line {note.line}: {note.reason}")
    for problem in report.problems:
        print(f"line {problem.line}: {problem.reason}", file=sys.stderr)
    if len(report.problems) < report.skipped:
        print(f"... and {report.skipped - len(report.problems):,} more.", file=sys.stderr)
    return 1 if report.skipped else 0
