"""A person's data: `microlend privacy export USER` and `microlend privacy erase USER`.

USER is resolved as `microlend grant` resolves people, in the workspace SLACK_BOT_TOKEN is
installed in, except that a person who has left Slack is still found by their id alone: an
erasure is most often asked for by a leaver, whom Slack may no longer know. Slack is asked
only when microlend holds nothing under that id, to tell a colleague it never knew (or has
erased) from a typo.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.cli.common import CommandError, Subcommands, command, command_group, counted, opened
from bot.runtime.settings import USER_ID, Settings

if TYPE_CHECKING:
    from storage.db.database import Database
    from storage.people.privacy import Erasure

USER_HELP = "a Slack user id like U012ABCDEF (or the pseudonym an erasure gave them)"


def add(commands: Subcommands) -> None:
    privacy = command_group(
        commands, "privacy", "What microlend holds about a person: export it, or erase it."
    )
    export = command(
        privacy,
        "export",
        "Write everything microlend holds about USER as JSON: profile, preferences, circles, "
        "pledges, ledger lines, payout requests and notifications.",
        _export,
    )
    export.add_argument("user", metavar="USER", help=USER_HELP)
    export.add_argument("--output", type=Path, help="write to FILE (default: standard output)")
    erase = command(
        privacy,
        "erase",
        "Erase USER: their open credit is paid out, the circles they lead pass on, their name, "
        "time zone, locale, preferences and what their messages named go, and their Slack id "
        "becomes a pseudonym on the money records, which stay. Erasing twice is a no-op.",
        _erase,
    )
    erase.add_argument("user", metavar="USER", help=USER_HELP)


def _export(args: argparse.Namespace) -> int:
    from storage.people.privacy import export_person

    with opened() as (settings, database):
        lender_id = _lender_of(settings, database, args.user)
        if lender_id is None:
            raise CommandError(
                f"microlend holds nothing about {args.user} (never a lender, or erased): "
                "there is nothing to export."
            )
        with database.reads() as session:
            pieces = export_person(session, lender_id)
            if args.output is None:
                _write(pieces, sys.stdout)
                return 0
            # Written beside the file and renamed at the end: never a half export under its name.
            partial = args.output.with_name(f"{args.output.name}.partial")
            with partial.open("w", encoding="utf-8") as file:
                _write(pieces, file)
            partial.replace(args.output)
    print(f"Wrote what microlend holds about {args.user} to {args.output}.", file=sys.stderr)
    return 0


def _write(pieces: Iterable[str], out: TextIO) -> None:
    for piece in pieces:
        out.write(piece)


def _erase(args: argparse.Namespace) -> int:
    from storage.people.privacy import erase_person

    with opened() as (settings, database):
        lender_id = _lender_of(settings, database, args.user)
        if lender_id is None:
            print(
                f"microlend holds nothing about {args.user} (never a lender, or erased "
                "already): nothing to erase."
            )
            return 0
        erasure = erase_person(database.sessions, lender_id, currency=settings.currency)
    print(_erased(args.user, erasure, settings.currency))
    return 0


def _erased(user_id: str, erasure: Erasure, currency: str) -> str:
    from storage.ledger.money import format_money

    if erasure.already:
        return f"{user_id} was erased already (as {erasure.pseudonym}): nothing to do."
    paid = (
        f"{format_money(erasure.paid_out, currency)} of open credit became a payout request "
        "(in the next `microlend export payouts`, under the pseudonym)"
        if erasure.paid_out
        else "no open credit to pay out"
    )
    return (
        f"Erased {user_id}, now {erasure.pseudonym} on the money records, which stay: {paid}; "
        f"left {counted(erasure.circles_left, 'circle')}, "
        f"{counted(erasure.circles_handed_on, 'circle')} handed on to its longest-standing "
        f"member, {counted(erasure.circles_closed, 'circle')} closed."
    )


def _lender_of(settings: Settings, database: Database, user_id: str) -> int | None:
    """The lender USER names in the installed workspace; None when microlend holds nothing
    under that id but Slack knows the person; an error naming them when neither knows them."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.runtime.slack_directory import A_BOT, NOT_FOUND, installation_of, unusable_people
    from storage.people.privacy import find_person, is_pseudonym

    if not (USER_ID.match(user_id) or is_pseudonym(user_id)):
        raise CommandError(f"{user_id!r} is not a Slack user id like U012ABCDEF.")
    settings.require("privacy", "SLACK_BOT_TOKEN")
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    try:
        installation = installation_of(client)
        with database.reads() as session:
            found = find_person(session, installation.org_key, user_id)
        if found is not None:
            return found.id
        if is_pseudonym(user_id):
            raise CommandError(f"microlend holds nobody under the pseudonym {user_id}.")
        problem = unusable_people(client, installation, [user_id]).get(user_id)
    except SlackApiError as failure:
        raise CommandError(
            f"Slack said {failure.response.get('error')}; nothing changed."
        ) from None
    if problem in (NOT_FOUND, A_BOT):
        raise CommandError(f"{user_id}: {problem}, and microlend holds nothing about them.")
    return None
