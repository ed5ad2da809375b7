"""The notification outbox, for operators: `microlend outbox`."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.cli.common import Choices, Subcommands, command, counted, fail, opened

if TYPE_CHECKING:
    from storage.db.database import Database
    from storage.notifications.delivery_queue import OutboxEntry

RETRY = "retry"
SHOWN = 50


def add(commands: Subcommands) -> None:
    outbox = command(
        commands,
        "outbox",
        "List pending, failed or dead notifications, oldest first, or revive one.",
        _outbox,
    )
    outbox.add_argument(
        "view",
        nargs="?",
        default="pending",
        choices=Choices(_views),
        metavar="VIEW",
        help="pending (not tried yet), failed (to be tried again), dead (given up), "
        "or retry ID to make one due again",
    )
    outbox.add_argument(
        "id", nargs="?", type=int, metavar="ID", help="with retry: the notification to revive"
    )
    outbox.add_argument(
        "--limit", type=int, default=SHOWN, metavar="N", help="notifications listed at most"
    )


def _views() -> Iterator[str]:
    from storage.notifications.delivery_queue import OutboxView

    yield from (view.value for view in OutboxView)
    yield RETRY


def _outbox(args: argparse.Namespace) -> int:
    if (args.view == RETRY) != (args.id is not None):
        return fail("say which notification to retry, and only to retry: outbox retry ID", code=2)
    with opened() as (_settings, database):
        if args.view == RETRY:
            return _retry(database, args.id)
        _list(database, args.view, max(args.limit, 0))
    return 0


def _retry(database: Database, notification_id: int) -> int:
    from bot.runtime.delivery import retry_notification

    if retry_notification(database.sessions, notification_id):
        print(f"Notification {notification_id} is due again.")
        return 0
    return fail(
        f"notification {notification_id} cannot be retried: "
        "it was sent, is being sent, or does not exist."
    )


def _list(database: Database, view: str, limit: int) -> None:
    from bot.runtime.delivery import list_outbox, outbox_counts
    from storage.notifications.delivery_queue import OutboxView

    counts = outbox_counts(database.sessions)
    if not counts:
        print("The outbox is empty.")
        return
    print(", ".join(f"{status}: {count:,}" for status, count in sorted(counts.items())))
    entries = list_outbox(database.sessions, OutboxView(view), limit=limit)
    if not entries:
        print(f"No {view} notifications.")
        return
    print(f"{'id':>8}  {'kind':<18} {'tried':<11} {'due':<16}  to")
    for entry in entries:
        print(_line(entry))
    if len(entries) == limit:
        print(f"(the oldest {limit:,}; --limit N lists more)")


def _line(entry: OutboxEntry) -> str:
    to = entry.channel_id or f"lender {entry.lender_id}"
    error = f"  {entry.last_error}" if entry.last_error else ""
    tried = counted(entry.attempts, "time")
    return f"{entry.id:>8}  {entry.kind:<18} {tried:<11} {entry.due_at:%Y-%m-%d %H:%M}  {to}{error}"
