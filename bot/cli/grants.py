"""Company credit for lenders: `microlend grant`.

People are resolved as Slack requests resolve them: in the workspace the bot token is
installed in (``auth.test``), and only people Slack knows there. Every id is checked before
anything is granted, so a typo or a leaver never becomes a phantom lender with credit.
"""

from __future__ import annotations

import argparse
import enum
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.common import CommandError, Subcommands, command, counted, opened
from bot.runtime.settings import USER_ID, Settings
from storage.ledger.money import format_money, parse_amount

if TYPE_CHECKING:
    from bot.runtime.slack_directory import Installation
    from storage.db.database import Database

MAX_REASON = 100
# Problems named one by one before the command gives up; the rest are counted.
PROBLEMS_SHOWN = 20


class Granted(enum.Enum):
    """What became of one lender's grant."""

    NOW = enum.auto()
    ALREADY = enum.auto()
    REFUSED = enum.auto()


def add(commands: Subcommands) -> None:
    grant = command(
        commands,
        "grant",
        "Add credit to lenders' accounts, in the workspace SLACK_BOT_TOKEN is installed in. "
        "The same reason, user and amount again is a no-op: give a new --reason for a new grant.",
        _grant,
    )
    grant.add_argument("users", nargs="*", metavar="USER_ID", help="Slack user ids")
    grant.add_argument("amount", metavar="AMOUNT", help="the credit for each, like 25.00")
    grant.add_argument("--file", type=Path, help="user ids, one per line: USER_ID[,TEAM_ID]")
    grant.add_argument(
        "--team",
        help="the workspace the users are in; must be the installed one (checked; default: "
        "the workspace SLACK_BOT_TOKEN is installed in)",
    )
    grant.add_argument("--reason", default="manual", help="why")


def _grant(args: argparse.Namespace) -> int:
    if bool(args.users) == bool(args.file):
        raise CommandError("Name the users either as USER_IDs or with --file, not both.")
    if not 0 < len(args.reason) <= MAX_REASON:
        raise CommandError(f"--reason must be 1 to {MAX_REASON} characters.")
    with opened() as (settings, database):
        amount = parse_amount(args.amount, currency=settings.currency)
        installation, user_ids = _people(settings, _named_users(args))
        counts = _grant_all(database, installation, user_ids, amount, args.reason)
    print(
        f"Granted {format_money(amount, settings.currency)} to "
        f"{counted(counts[Granted.NOW], 'lender')}; "
        f"{counts[Granted.ALREADY]:,} already had this grant; {counts[Granted.REFUSED]:,} refused."
    )
    return 1 if counts[Granted.REFUSED] else 0


def _named_users(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(user id, team) for each user named, in order, once each; a bad id refuses them all."""
    if not args.file:
        return _once(_parsed(user, args.team) for user in args.users)
    found = []
    # utf-8-sig: a file saved by a spreadsheet may start with a byte-order mark.
    with args.file.open(encoding="utf-8-sig") as lines:
        try:
            for number, line in enumerate(lines, start=1):
                found.append(_line(line, number, args))
        except UnicodeDecodeError:
            message = f"{args.file} is not UTF-8 text (save it as UTF-8). Nothing was granted."
            raise CommandError(message) from None
    return _once(found)


def _line(line: str, number: int, args: argparse.Namespace) -> tuple[str, str | None] | None:
    try:
        return _parsed(line, args.team)
    except CommandError as error:
        message = f"{args.file}, line {number}: {error} Nothing was granted."
        raise CommandError(message) from None


def _parsed(line: str, team: str | None) -> tuple[str, str | None] | None:
    """``USER_ID`` or ``USER_ID,TEAM_ID``; None for a blank line or a # comment."""
    content = line.split("#", 1)[0].strip()
    if not content:
        return None
    user, _comma, own_team = (part.strip() for part in content.partition(","))
    if not USER_ID.match(user):
        raise CommandError(f"{user!r} is not a Slack user id like U012ABCDEF.")
    return user, own_team or team


def _once(
    users: Iterable[tuple[str, str | None] | None],
) -> list[tuple[str, str | None]]:
    return list(dict.fromkeys(user for user in users if user is not None))


def _people(
    settings: Settings, named: list[tuple[str, str | None]]
) -> tuple[Installation, list[str]]:
    """The installation and the ids named, each checked with Slack: a lender may have left."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.runtime.slack_directory import installation_of, unusable_people

    settings.require("grant", "SLACK_BOT_TOKEN")
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    try:
        installation = installation_of(client)
        user_ids = _in_the_workspace(named, installation)
        problems = unusable_people(client, installation, user_ids)
    except SlackApiError as failure:
        error = failure.response.get("error")
        raise CommandError(f"Slack said {error}; nothing was granted.") from None
    _refuse_any(problems, len(user_ids))
    return installation, user_ids


def _in_the_workspace(named: list[tuple[str, str | None]], installation: Installation) -> list[str]:
    for user_id, team in named:
        if team and not installation.names(team):
            raise CommandError(
                f"{user_id} is named in {team}, but microlend is installed in "
                f"{installation.team_id}. Nothing was granted."
            )
    return list(dict.fromkeys(user_id for user_id, _team in named))


def _refuse_any(problems: dict[str, str], users: int) -> None:
    if not problems:
        return
    for user_id, problem in list(problems.items())[:PROBLEMS_SHOWN]:
        print(f"{user_id}: {problem}", file=sys.stderr)
    raise CommandError(
        f"{len(problems):,} of {counted(users, 'user')} cannot be given credit. "
        "Nothing was granted."
    )


def _grant_all(
    database: Database, installation: Installation, user_ids: list[str], amount: int, reason: str
) -> Counter[Granted]:
    from storage.importing.rows import batched

    counts: Counter[Granted] = Counter()
    for batch in batched(user_ids):
        for user_id, lender_id in _lenders(database, installation, batch):
            counts[_grant_one(database, user_id, lender_id, amount, reason)] += 1
    return counts


def _lenders(
    database: Database, installation: Installation, user_ids: list[str]
) -> list[tuple[str, int]]:
    from storage.db.clock import utcnow
    from storage.db.unit_of_work import transaction
    from storage.lending.lenders import ensure_lender

    with transaction(database.sessions) as session:
        now = utcnow()
        return [
            (user_id, ensure_lender(session, installation.identity(user_id), now=now).id)
            for user_id in user_ids
        ]


def _grant_one(
    database: Database, user_id: str, lender_id: int, amount: int, reason: str
) -> Granted:
    from storage.lending.credit import grant_credit

    key = f"grant:{reason}:{lender_id}"
    outcome = grant_credit(database.sessions, lender_id, amount, key=key, reason=reason)
    if outcome.refusal is None:
        return Granted.ALREADY if outcome.replayed else Granted.NOW
    message = outcome.refusal.message
    if outcome.refusal.code == "idempotency_conflict":
        message = f"already had another amount for the reason {reason!r}; give a new --reason."
    print(f"{user_id}: {message}", file=sys.stderr)
    return Granted.REFUSED
