"""Company credit for lenders: `microlend grant`."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bot.cli.common import CommandError, Subcommands, command, opened
from bot.runtime.settings import USER_ID
from storage.db.clock import utcnow
from storage.db.database import Database
from storage.db.unit_of_work import transaction
from storage.importing.rows import batched
from storage.ledger.money import format_money, parse_amount
from storage.lending.credit import grant_credit
from storage.lending.lenders import SlackIdentity, ensure_lender

MAX_REASON = 100


def add(commands: Subcommands) -> None:
    grant = command(
        commands,
        "grant",
        "Add credit to lenders' accounts. The same reason, user and amount again is a no-op: "
        "give a new --reason for a new grant.",
        _grant,
    )
    grant.add_argument("users", nargs="*", metavar="USER_ID", help="Slack user ids")
    grant.add_argument("amount", metavar="AMOUNT", help="the credit for each, like 25.00")
    grant.add_argument("--file", type=Path, help="user ids, one per line: USER_ID[,TEAM_ID]")
    grant.add_argument("--team", help="the Slack team (workspace) id of the users")
    grant.add_argument("--reason", default="manual", help="why (default: manual)")


def _grant(args: argparse.Namespace) -> int:
    if bool(args.users) == bool(args.file):
        raise CommandError("Name the users either as USER_IDs or with --file, not both.")
    if not 0 < len(args.reason) <= MAX_REASON:
        raise CommandError(f"--reason must be 1 to {MAX_REASON} characters.")
    with opened() as (settings, database):
        amount = parse_amount(args.amount, currency=settings.currency)
        if args.file:
            _check_user_file(args.file)
            with args.file.open(encoding="utf-8") as lines:
                users = (_identity(line, args.team) for line in lines)
                counts = _grant_all(database, users, amount, args.reason)
        else:
            users = (_identity(user, args.team) for user in args.users)
            counts = _grant_all(database, list(users), amount, args.reason)
    print(
        f"Granted {format_money(amount, settings.currency)} to {counts['granted']} lenders; "
        f"{counts['already']} already had this grant; {counts['refused']} refused."
    )
    return 1 if counts["refused"] else 0


def _identity(line: str, team: str | None) -> SlackIdentity | None:
    """``USER_ID`` or ``USER_ID,TEAM_ID``; None for a blank line or a # comment."""
    content = line.split("#", 1)[0].strip()
    if not content:
        return None
    user, _comma, own_team = (part.strip() for part in content.partition(","))
    if not USER_ID.match(user):
        raise CommandError(f"{user!r} is not a Slack user id like U012ABCDEF.")
    return SlackIdentity(user, own_team or team)


def _check_user_file(path: Path) -> None:
    """Read the whole file once before granting anything: a bad line means no grant at all."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                _identity(line, None)
            except CommandError as error:
                raise CommandError(f"{path}, line {number}: {error} Nothing was granted.") from None


def _grant_all(
    database: Database, users: Iterable[SlackIdentity | None], amount: int, reason: str
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for batch in batched(user for user in users if user is not None):
        with transaction(database.sessions) as session:
            now = utcnow()
            lenders = [(user.user_id, ensure_lender(session, user, now=now).id) for user in batch]
        for user_id, lender_id in lenders:
            counts[_grant_one(database, user_id, lender_id, amount, reason)] += 1
    return counts


def _grant_one(database: Database, user_id: str, lender_id: int, amount: int, reason: str) -> str:
    key = f"grant:{reason}:{lender_id}"
    outcome = grant_credit(database.sessions, lender_id, amount, key=key, reason=reason)
    if outcome.refusal is None:
        return "already" if outcome.replayed else "granted"
    message = outcome.refusal.message
    if outcome.refusal.code == "idempotency_conflict":
        message = f"already had another amount for the reason {reason!r}; give a new --reason."
    print(f"{user_id}: {message}", file=sys.stderr)
    return "refused"
