"""Scheduled jobs: `microlend jobs list` and `jobs run NAME`."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from types import MappingProxyType

from bot.cli.common import Choices, Subcommands, command, command_group, counted
from bot.runtime.settings import load_settings

# What the first count of each tick that returns a TickResult counts, in its two forms.
TICKED = MappingProxyType(
    {
        "delinquency": ("loan flagged late", "loans flagged late"),
        "idle-credit": ("lender reminded", "lenders reminded"),
        "circle-summaries": ("circle summarised", "circles summarised"),
        "reconcile": ("broken rule", "broken rules"),
    }
)


def add(commands: Subcommands) -> None:
    jobs = command_group(commands, "jobs", "Scheduled jobs.")
    command(jobs, "list", "Every job with its schedule and next run.", _jobs_list)
    run = command(jobs, "run", "Run one job's tick now.", _jobs_run)
    run.add_argument("name", choices=Choices(_names), metavar="NAME", help="%(choices)s")


def _names() -> Iterable[str]:
    from bot.runtime.jobs import JOBS

    return JOBS


def _jobs_list(_args: argparse.Namespace) -> int:
    from bot.runtime.jobs import list_jobs

    for job in list_jobs():
        when = f"{job.next_run:%Y-%m-%d %H:%M} UTC" if job.next_run else "never"
        print(f"{job.name:<18} {job.schedule:<14} next {when}  {job.description}")
    return 0


def _jobs_run(args: argparse.Namespace) -> int:
    from bot.runtime.jobs import JobContext, clients_for, run_job
    from storage.db.database import open_database

    settings = load_settings()
    database = open_database(settings.database_url)
    try:
        run = run_job(
            JobContext(
                database.sessions,
                settings.rules,
                operators=settings.admins,
                slack=clients_for(settings, database),
            ),
            args.name,
        )
    finally:
        database.dispose()
    print(f"{run.name}: {_told(run.name, run.result, settings.currency)}")
    return 0


def _told(name: str, result: object, currency: str) -> str:
    """What a tick did, in words."""
    from bot.runtime.people_sync import SyncResult
    from storage.ledger.money import format_money
    from storage.lending.autolend import AutolendResult
    from storage.notifications.outbox import TickResult
    from storage.people.privacy import Purge
    from storage.projects.lifecycle import ExpiryResult

    match result:
        case ExpiryResult(expired_projects=projects, refunded_pledges=pledges):
            return f"{counted(projects, 'project')} expired, {counted(pledges, 'pledge')} refunded"
        case AutolendResult(lenders=lenders, pledges=pledges, amount=amount):
            lent = format_money(amount, currency)
            return (
                f"{lent} re-lent in {counted(pledges, 'pledge')} for {counted(lenders, 'lender')}"
            )
        case SyncResult(pages=pages, users_seen=seen, lenders_updated=updated):
            people = counted(seen, "person", "people")
            return f"{people} in {counted(pages, 'page')}, {counted(updated, 'lender')} updated"
        case str() as said:  # a job that could not run says why
            return said
        case Purge(notifications=notifications):
            return f"{counted(notifications, 'sent notification')} purged of whom they named"
        case TickResult(changed=changed, queued=queued):
            return f"{counted(changed, *TICKED[name])}, {counted(queued, 'notification')} queued"
    raise TypeError(f"{name} returned {result!r}, which jobs run cannot put in words")
