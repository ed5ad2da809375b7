"""What every command shares: its parser helpers, its errors and the database it opens."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bot.runtime.settings import Settings, load_settings
from storage.db.database import Database, open_database

Subcommands = Any
Handler = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A command failed in a way the person can fix; the message says how."""


def fail(message: str, *, code: int = 1) -> int:
    print(f"microlend: {message}", file=sys.stderr)
    return code


@contextmanager
def opened() -> Iterator[tuple[Settings, Database]]:
    settings = load_settings()
    database = open_database(settings.database_url)
    try:
        yield settings, database
    finally:
        database.dispose()


def command_group(commands: Subcommands, name: str, help_text: str) -> Subcommands:
    """A command with its own subcommands, like ``import projects``."""
    parser = commands.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)


def command(commands: Subcommands, name: str, help_text: str, handler: Handler) -> Any:
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser
