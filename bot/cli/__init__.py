"""The ``microlend`` command line: the database, imports, finance exports and credit grants.

Every command is one short function that takes the parsed arguments and returns an exit code:
0 for success, 1 for an error (reported on stderr), 2 for unusable settings or arguments.
``COMMANDS`` lists the functions that add each command to the parser, so a new command
(``serve``, ``worker``, ``demo``, ...) is one function that registers its parser and one entry.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.cli.runtime import add_runtime_commands
from bot.runtime.settings import USER_ID, Settings, SettingsError, load_settings
from storage.db.clock import utcnow
from storage.db.database import Database, SchemaOutOfDate, open_database
from storage.db.engine import make_engine
from storage.db.migrate import head_revision, upgrade
from storage.db.unit_of_work import transaction
from storage.finance.exports import (
    PAYOUTS,
    ExportBatch,
    ExportRefused,
    claim_payouts,
    claim_payroll,
    find_export,
    write_export,
)
from storage.importing.rows import ImportFileError, ImportReport, batched
from storage.ledger.money import AmountError, format_money, parse_amount
from storage.lending.credit import grant_credit
from storage.lending.lenders import SlackIdentity, ensure_lender
from storage.projects.importers.loader import ProjectFormat, import_projects
from storage.repayments.report_import import import_repayments

Subcommands = Any  # argparse's _SubParsersAction, which it does not export
Handler = Callable[[argparse.Namespace], int]
MAX_REASON = 100


class CommandError(Exception):
    """A command failed in a way the person can fix; the message says how."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help and usage errors: return the code rather than exit
        return stop.code if isinstance(stop.code, int) else 2
    try:
        handler: Handler = args.handler
        return handler(args)
    except SettingsError as error:
        return _fail(str(error), code=2)
    except (
        CommandError,
        ImportFileError,
        ExportRefused,
        SchemaOutOfDate,
        AmountError,
        OSError,
    ) as error:
        return _fail(str(error))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microlend",
        description="Run the microlend programme: database, imports, exports and grants.",
        epilog="Settings come from the environment (DATABASE_URL, MICROLEND_CURRENCY, ...).",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(commands)
    return parser


def _fail(message: str, *, code: int = 1) -> int:
    print(f"microlend: {message}", file=sys.stderr)
    return code


@contextmanager
def _database() -> Iterator[tuple[Settings, Database]]:
    settings = load_settings()
    database = open_database(settings.database_url)
    try:
        yield settings, database
    finally:
        database.dispose()


def _group(commands: Subcommands, name: str, help_text: str) -> Subcommands:
    """A command with its own subcommands, like ``import projects``."""
    parser = commands.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)


def _leaf(commands: Subcommands, name: str, help_text: str, handler: Handler) -> Any:
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


# db ---------------------------------------------------------------------------------------------


def _add_db(commands: Subcommands) -> None:
    db = _group(commands, "db", "Manage the database schema.")
    _leaf(db, "upgrade", "Migrate the database in DATABASE_URL to the latest schema.", _db_upgrade)


def _db_upgrade(_args: argparse.Namespace) -> int:
    engine = make_engine(load_settings().database_url)
    try:
        upgrade(engine)
        print(f"Database schema is current (revision {head_revision(engine)}).")
    finally:
        engine.dispose()
    return 0


# import -----------------------------------------------------------------------------------------


def _add_import(commands: Subcommands) -> None:
    group = _group(commands, "import", "Import projects or a partner's repayment report.")
    projects = _leaf(
        group, "projects", "Import projects and their partners from a file.", _import_projects
    )
    projects.add_argument("file", type=Path, help="the file to import")
    projects.add_argument(
        "--format",
        choices=[fmt.value for fmt in ProjectFormat],
        default=ProjectFormat.KIVA.value,
        help="kiva: Kiva's loan data (default); csv or json (JSON Lines): microlend's format",
    )
    projects.add_argument(
        "--usd-rate",
        type=_rate,
        metavar="R",
        help="how much of the platform currency one USD buys (Kiva amounts are in USD)",
    )
    repayments = _leaf(
        group,
        "repayments",
        "Record a partner's repayments: CSV with project, amount, date, reference.",
        _import_repayments,
    )
    repayments.add_argument("file", type=Path, help="the partner's report")


def _rate(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number, like 0.92") from None


def _import_projects(args: argparse.Namespace) -> int:
    fmt = ProjectFormat(args.format)
    with _database() as (settings, database), args.file.open("rb") as stream:
        rate = _usd_rate(fmt, args.usd_rate, settings.currency)
        report = import_projects(database.sessions, stream, settings.rules, fmt=fmt, usd_rate=rate)
    return _print_report(report, "projects")


def _usd_rate(fmt: ProjectFormat, given: Decimal | None, currency: str) -> Decimal | None:
    """Kiva's USD amounts need a rate, which a USD deployment need not give."""
    if fmt is not ProjectFormat.KIVA or given is not None:
        return given
    if currency == "USD":
        return Decimal(1)
    raise CommandError(f"Kiva amounts are in USD: give --usd-rate, the {currency} one USD buys.")


def _import_repayments(args: argparse.Namespace) -> int:
    with _database() as (settings, database), args.file.open("rb") as stream:
        report = import_repayments(database.sessions, stream, settings.rules)
    return _print_report(report, "repayments")


def _print_report(report: ImportReport, noun: str) -> int:
    """The counts on stdout, every skipped row on stderr; exit 1 if any row was skipped."""
    print(f"Loaded {report.loaded} {noun}; {report.unchanged} unchanged; {report.skipped} skipped.")
    for note in report.notes:
        print(f"line {note.line}: {note.reason}")
    for problem in report.problems:
        print(f"line {problem.line}: {problem.reason}", file=sys.stderr)
    if len(report.problems) < report.skipped:
        print(f"... and {report.skipped - len(report.problems)} more.", file=sys.stderr)
    return 1 if report.skipped else 0


# export -----------------------------------------------------------------------------------------


def _add_export(commands: Subcommands) -> None:
    group = _group(commands, "export", "Write finance exports as CSV.")
    payroll = _leaf(
        group, "payroll", "New money to collect through payroll for a month.", _export_payroll
    )
    payroll.add_argument("--month", required=True, help="the month, as YYYY-MM")
    payroll.add_argument("--output", type=Path, help="the file (default payroll-YYYY-MM.csv)")
    payouts = _leaf(
        group,
        "payouts",
        "A new batch of withdrawals to pay out, or an earlier one.",
        _export_payouts,
    )
    payouts.add_argument("--batch", type=int, metavar="ID", help="write earlier batch ID again")
    payouts.add_argument("--output", type=Path, help="the file (default payouts-ID.csv)")


def _export_payroll(args: argparse.Namespace) -> int:
    with _database() as (settings, database):
        batch = claim_payroll(database.sessions, args.month)
        return _write(settings, database, batch, args.output or Path(f"payroll-{args.month}.csv"))


def _export_payouts(args: argparse.Namespace) -> int:
    with _database() as (settings, database):
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
    with output.open("w", encoding="utf-8", newline="") as out:
        summary = write_export(database.sessions, batch, out, currency=settings.currency)
    state = "new" if batch.created else "already exported, written again"
    total = format_money(summary.total, settings.currency)
    print(
        f"{batch.kind} {batch.period} (export {batch.export_id}, {state}): "
        f"{summary.lenders} lenders, {total} -> {output}"
    )
    return 0


# grant ------------------------------------------------------------------------------------------


def _add_grant(commands: Subcommands) -> None:
    grant = _leaf(
        commands,
        "grant",
        "Add credit to lenders' accounts. The same reason, user and amount again is a no-op: "
        "give a new --reason for a new grant.",
        _grant,
    )
    grant.add_argument("users", nargs="*", metavar="USER_ID", help="Slack user ids")
    grant.add_argument("amount", metavar="AMOUNT", help="the credit for each, like 25.00")
    grant.add_argument("--file", type=Path, help="user ids, one per line: USER_ID[,TEAM_ID]")
    grant.add_argument("--team", help="the Slack team (workspace) id of the users")
    grant.add_argument("--reason", default="manual", help="why (default: manual)")


def _grant(args: argparse.Namespace) -> int:
    if bool(args.users) == bool(args.file):
        raise CommandError("Name the users either as USER_IDs or with --file, not both.")
    if not 0 < len(args.reason) <= MAX_REASON:
        raise CommandError(f"--reason must be 1 to {MAX_REASON} characters.")
    with _database() as (settings, database):
        amount = parse_amount(args.amount, currency=settings.currency)
        if args.file:
            _check_user_file(args.file)
            with args.file.open(encoding="utf-8") as lines:
                users = (_identity(line, args.team) for line in lines)
                counts = _grant_all(database, users, amount, args.reason)
        else:
            users = (_identity(user, args.team) for user in args.users)
            counts = _grant_all(database, list(users), amount, args.reason)
    print(
        f"Granted {format_money(amount, settings.currency)} to {counts['granted']} lenders; "
        f"{counts['already']} already had this grant; {counts['refused']} refused."
    )
    return 1 if counts["refused"] else 0


def _identity(line: str, team: str | None) -> SlackIdentity | None:
    """``USER_ID`` or ``USER_ID,TEAM_ID``; None for a blank line or a # comment."""
    content = line.split("#", 1)[0].strip()
    if not content:
        return None
    user, _comma, own_team = (part.strip() for part in content.partition(","))
    if not USER_ID.match(user):
        raise CommandError(f"{user!r} is not a Slack user id like U012ABCDEF.")
    return SlackIdentity(user, own_team or team)


def _check_user_file(path: Path) -> None:
    """Read the whole file once before granting anything: a bad line means no grant at all."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                _identity(line, None)
            except CommandError as error:
                raise CommandError(f"{path}, line {number}: {error} Nothing was granted.") from None


def _grant_all(
    database: Database, users: Iterable[SlackIdentity | None], amount: int, reason: str
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for batch in batched(user for user in users if user is not None):
        with transaction(database.sessions) as session:
            now = utcnow()
            lenders = [(user.user_id, ensure_lender(session, user, now=now).id) for user in batch]
        for user_id, lender_id in lenders:
            counts[_grant_one(database, user_id, lender_id, amount, reason)] += 1
    return counts


def _grant_one(database: Database, user_id: str, lender_id: int, amount: int, reason: str) -> str:
    key = f"grant:{reason}:{lender_id}"
    outcome = grant_credit(database.sessions, lender_id, amount, key=key, reason=reason)
    if outcome.refusal is None:
        return "already" if outcome.replayed else "granted"
    message = outcome.refusal.message
    if outcome.refusal.code == "idempotency_conflict":
        message = f"already had another amount for the reason {reason!r}; give a new --reason."
    print(f"{user_id}: {message}", file=sys.stderr)
    return "refused"


def _add_runtime(commands: Subcommands) -> None:
    add_runtime_commands(commands, _leaf, _group)


COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    _add_db,
    _add_import,
    _add_export,
    _add_grant,
    _add_runtime,
)
