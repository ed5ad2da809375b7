"""What every command shares: its parser helpers, its errors and the database it opens.

Building the parser imports no command's implementation, so that ``--help`` and a light
command start quickly: each command imports what it needs inside its own function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from bot.runtime.settings import Settings, load_settings

if TYPE_CHECKING:
    from storage.db.database import Database

Subcommands = Any
Handler = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """A command failed in a way the person can fix; the message says how."""


def word(count: int, one: str, many: str | None = None) -> str:
    """The form that agrees with ``count``: ``lender`` for 1, ``lenders`` for 0 or 2."""
    if count == 1:
        return one
    return many or f"{one}s"


def counted(count: int, one: str, many: str | None = None) -> str:
    """``1 lender``, ``2 lenders``, ``1,000 people``."""
    return f"{count:,} {word(count, one, many)}"


def fail(message: str, *, code: int = 1) -> int:
    print(f"microlend: {message}", file=sys.stderr)
    return code


@contextmanager
def opened() -> Iterator[tuple[Settings, Database]]:
    from storage.db.database import open_database

    settings = load_settings()
    database = open_database(settings.database_url)
    try:
        yield settings, database
    finally:
        database.dispose()


class DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Help that ends each option's text with its default, unless it has none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def command_group(commands: Subcommands, name: str, help_text: str) -> Subcommands:
    """A command with its own subcommands, like ``import projects``."""
    parser = commands.add_parser(
        name, help=help_text, description=help_text, formatter_class=DefaultsShown
    )
    return parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)


def command(commands: Subcommands, name: str, help_text: str, handler: Handler) -> Any:
    parser = commands.add_parser(
        name, help=help_text, description=help_text, formatter_class=DefaultsShown
    )
    parser.set_defaults(handler=handler)
    return parser


class Choices(Collection[str]):
    """Choices that come from a module the parser does not import: argparse reads them only
    to check a value or to print this command's help. Give the argument a metavar, or
    argparse reads them as it is added."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load

    @cached_property
    def _names(self) -> tuple[str, ...]:
        return tuple(self._load())

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
