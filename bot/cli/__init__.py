"""The ``microlend`` command line: the database, imports, finance exports and credit grants.

Every command is one short function that takes the parsed arguments and returns an exit code:
0 for success, 1 for an error (reported on stderr), 2 for unusable settings or arguments.
Each command group is a module of this package with an ``add(commands)`` that registers its
parsers; ``COMMANDS`` lists them, so a new group is one module and one entry.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from bot.cli import (
    check,
    db,
    devtools,
    exports,
    grants,
    imports,
    jobs,
    outbox,
    people,
    privacy,
    serving,
)
from bot.cli.common import CommandError, DefaultsShown, Handler, Subcommands, fail
from bot.runtime.settings import DEFAULT_DATABASE_URL, SettingsError

# The exit code of a command that a signal ended, as the shell reports it: 128 + the signal.
SIGPIPE_EXIT = 128 + 13
SIGINT_EXIT = 128 + 2


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, where a reader that went away can still be caught
    except BrokenPipeError:
        # `microlend ... | head` stopped reading: stop quietly, as other Unix tools do. Python
        # flushes stdout again at exit; pointed at /dev/null, that flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT
    except KeyboardInterrupt:
        return SIGINT_EXIT
    return code


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help and usage errors: return the code rather than exit
        return stop.code if isinstance(stop.code, int) else 2
    try:
        handler: Handler = args.handler
        return handler(args)
    except SettingsError as error:
        return fail(str(error), code=2)
    except BrokenPipeError:
        raise
    except (CommandError, OSError) as error:
        return fail(str(error))
    except Exception as error:
        told = _told(error)
        if told is None:
            raise
        return fail(told)


def _told(error: Exception) -> str | None:
    """What to tell the person of one of storage's errors, or None for a bug. Their modules
    are imported only once something was raised, so that starting a command imports none."""
    from sqlalchemy.exc import OperationalError

    from storage.db.database import SchemaOutOfDate
    from storage.db.unit_of_work import Busy
    from storage.finance.exports import ExportRefused
    from storage.importing.rows import ImportFileError
    from storage.ledger.money import AmountError

    if isinstance(error, OperationalError):
        return f"the database in DATABASE_URL failed: {str(error.orig).strip()}"
    if isinstance(error, ImportFileError | ExportRefused | SchemaOutOfDate | AmountError | Busy):
        return str(error)
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microlend",
        description="Run the microlend programme: database, imports, exports and grants.",
        epilog="Settings come from the environment: DATABASE_URL (default: "
        f"{DEFAULT_DATABASE_URL}), MICROLEND_CURRENCY, SLACK_BOT_TOKEN, ... "
        "(see Settings in the README).",
        formatter_class=DefaultsShown,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(commands)
    return parser


COMMANDS: tuple[Callable[[Subcommands], None], ...] = (
    db.add,
    check.add,
    imports.add,
    exports.add,
    grants.add,
    serving.add,
    outbox.add,
    jobs.add,
    people.add,
    privacy.add,
    devtools.add,
)
