"""The notification outbox, for operators: `microlend outbox`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from bot.cli.common import Choices, Subcommands, command
from bot.runtime.settings import load_settings


def add(commands: Subcommands) -> None:
    outbox = command(commands, "outbox", "List pending, failed or dead notifications.", _outbox)
    outbox.add_argument(
        "view", nargs="?", default="pending", choices=Choices(_views), metavar="VIEW"
    )
    outbox.add_argument("id", nargs="?", type=int, help="with retry: the notification to revive")


def _views() -> Iterator[str]:
    from storage.notifications.delivery_queue import OutboxView

    yield from (view.value for view in OutboxView)
    yield "retry"


def _outbox(args: argparse.Namespace) -> int:
    from bot.runtime.delivery import list_outbox, outbox_counts, retry_notification
    from storage.db.database import open_database
    from storage.notifications.delivery_queue import OutboxView

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
