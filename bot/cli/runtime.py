"""``microlend`` commands that run the app.

serve, run, worker, outbox, jobs, people sync, console, demo.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devtools.console import run_console
from bot.devtools.demo import DEMO_CSV, load_demo
from bot.runtime.delivery import list_outbox, outbox_counts, retry_notification, run_worker
from bot.runtime.jobs import JOBS, JobContext, list_jobs, run_job
from bot.runtime.people_sync import org_key_of, sync_profiles
from bot.runtime.serving import run_socket_mode, serve
from bot.runtime.settings import load_settings
from storage.db.clock import utcnow
from storage.db.database import open_database
from storage.notifications.delivery_queue import OutboxView

Subcommands = Any
Leaf = Callable[[Subcommands, str, str, Callable[[argparse.Namespace], int]], Any]
Group = Callable[[Subcommands, str, str], Subcommands]


def add_runtime_commands(commands: Subcommands, leaf: Leaf, group: Group) -> None:
    served = leaf(commands, "serve", "Serve Slack over HTTP (POST /slack/events).", _serve)
    served.add_argument("--host", default="0.0.0.0", help="address to listen on")
    served.add_argument("--port", type=int, default=3000, help="port to listen on")
    leaf(commands, "run", "Connect to Slack in Socket Mode (needs SLACK_APP_TOKEN).", _run)
    leaf(commands, "worker", "Deliver notifications from the outbox until stopped.", _worker)
    _add_outbox(commands, leaf)
    _add_jobs(commands, leaf, group)
    people = group(commands, "people", "Lenders' names and time zones from Slack.")
    leaf(people, "sync", "Copy them from users.list now (run it daily, e.g. from cron).", _sync)
    leaf(commands, "console", "Talk to microlend from this terminal, no Slack needed.", _console)
    leaf(commands, "demo", "Load the demo data set into an empty database.", _demo)


def _add_outbox(commands: Subcommands, leaf: Leaf) -> None:
    outbox = leaf(commands, "outbox", "List pending, failed or dead notifications.", _outbox)
    outbox.add_argument(
        "view", nargs="?", default="pending", choices=[*(v.value for v in OutboxView), "retry"]
    )
    outbox.add_argument("id", nargs="?", type=int, help="with retry: the notification to revive")


def _add_jobs(commands: Subcommands, leaf: Leaf, group: Group) -> None:
    jobs = group(commands, "jobs", "Scheduled jobs.")
    leaf(jobs, "list", "Every job with its schedule and next run.", _jobs_list)
    run = leaf(jobs, "run", "Run one job's tick now.", _jobs_run)
    run.add_argument("name", choices=list(JOBS))


def _serve(args: argparse.Namespace) -> int:
    serve(load_settings(), args.host, args.port)
    return 0


def _run(_args: argparse.Namespace) -> int:
    run_socket_mode(load_settings())
    return 0


def _worker(_args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stats = run_worker(load_settings(), stop=stop)
    except KeyboardInterrupt:
        stop.set()
        return 0
    print(f"sent {stats.messages_sent} messages for {stats.rows_sent} notifications")
    return 0


def _outbox(args: argparse.Namespace) -> int:
    database = open_database(load_settings().database_url)
    try:
        if args.view == "retry":
            if args.id is None:
                print("microlend: say which notification: outbox retry ID", file=sys.stderr)
                return 2
            revived = retry_notification(database.sessions, args.id)
            print(f"notification {args.id} " + ("is due again" if revived else "is not waiting"))
            return 0 if revived else 1
        counts = outbox_counts(database.sessions)
        print(", ".join(f"{status}: {count}" for status, count in sorted(counts.items())))
        for entry in list_outbox(database.sessions, OutboxView(args.view)):
            where = entry.channel_id or f"lender {entry.lender_id}"
            error = f"  {entry.last_error}" if entry.last_error else ""
            print(
                f"{entry.id:>8} {entry.kind:<18} {entry.status:<8} x{entry.attempts} "
                f"due {entry.due_at:%Y-%m-%d %H:%M} {where}{error}"
            )
        return 0
    finally:
        database.dispose()


def _jobs_list(_args: argparse.Namespace) -> int:
    for job in list_jobs():
        when = f"{job.next_run:%Y-%m-%d %H:%M} UTC" if job.next_run else "never"
        print(f"{job.name:<18} {job.schedule:<14} next {when}  {job.description}")
    return 0


def _jobs_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    database = open_database(settings.database_url)
    try:
        run = run_job(JobContext(database.sessions, settings.rules), args.name)
    finally:
        database.dispose()
    print(f"{run.name}: {run.result}")
    return 0


def _sync(_args: argparse.Namespace) -> int:
    settings = load_settings()
    if not settings.slack_bot_token:
        print("microlend: set SLACK_BOT_TOKEN to read Slack's directory", file=sys.stderr)
        return 2
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    database = open_database(settings.database_url)
    try:
        result = sync_profiles(client, database.sessions, org_key_of(client))
    except SlackApiError as failure:
        print(f"microlend: Slack said {failure.response.get('error')}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(
        f"people sync: pages {result.pages}, people {result.users_seen}, "
        f"lenders updated {result.lenders_updated}"
    )
    return 0


def _console(_args: argparse.Namespace) -> int:
    return run_console(load_settings(), stdin=sys.stdin, stdout=sys.stdout)


def _demo(_args: argparse.Namespace) -> int:
    settings = load_settings()
    database = open_database(settings.database_url)
    try:
        report = load_demo(database.sessions, settings.rules, DEMO_CSV, now=utcnow())
    finally:
        database.dispose()
    print(f"demo: {report}" if report.changed else "demo: already loaded, nothing changed")
    return 0
