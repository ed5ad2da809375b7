"""Trying microlend without Slack: `microlend console` and `microlend demo`."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import Subcommands, command
from bot.runtime.settings import load_settings


def add(commands: Subcommands) -> None:
    command(commands, "console", "Talk to microlend from this terminal, no Slack needed.", _console)
    command(commands, "demo", "Load the demo data set into an empty database.", _demo)


def _console(_args: argparse.Namespace) -> int:
    from bot.devtools.console import run_console

    return run_console(load_settings(), stdin=sys.stdin, stdout=sys.stdout)


def _demo(_args: argparse.Namespace) -> int:
    from bot.devtools.demo import DEMO_CSV, load_demo
    from storage.db.clock import utcnow
    from storage.db.database import open_database

    settings = load_settings()
    database = open_database(settings.database_url)
    try:
        report = load_demo(database.sessions, settings.rules, DEMO_CSV, now=utcnow())
    finally:
        database.dispose()
    print(f"demo: {report}" if report.changed else "demo: already loaded, nothing changed")
    return 0
