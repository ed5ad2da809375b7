"""Trying microlend without Slack: `microlend console` and `microlend demo`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bot.cli.common import CommandError, Subcommands, command, counted
from bot.runtime.settings import load_settings

if TYPE_CHECKING:
    from bot.devtools.demo import DemoReport


def add(commands: Subcommands) -> None:
    command(commands, "console", "Talk to microlend from this terminal, no Slack needed.", _console)
    command(commands, "demo", "Load the demo data set into an empty database.", _demo)


def _console(_args: argparse.Namespace) -> int:
    from bot.devtools.console import run_console

    return run_console(load_settings(), stdin=sys.stdin, stdout=sys.stdout)


def _demo(_args: argparse.Namespace) -> int:
    from bot.devtools.demo import DEMO_CSV, DemoError, load_demo
    from storage.db.clock import utcnow
    from storage.db.database import open_database

    settings = load_settings()
    database = open_database(settings.database_url)
    try:
        report = load_demo(database.sessions, settings.rules, DEMO_CSV, now=utcnow())
    except DemoError as error:
        raise CommandError(f"demo: {error}") from None
    finally:
        database.dispose()
    print(f"demo: {_told(report)}" if report.changed else "demo: already loaded, nothing changed")
    return 0


def _told(report: DemoReport) -> str:
    return (
        f"loaded {counted(report.projects_loaded, 'project')}, {counted(report.grants, 'grant')}, "
        f"{counted(report.pledges, 'pledge')} and {counted(report.repayments, 'repayment')}; "
        f"the lending circle is channel {report.circle_channel_id}"
    )
