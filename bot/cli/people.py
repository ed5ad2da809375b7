"""Lenders as Slack knows them: `microlend people sync`, and who left: `microlend leavers`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from bot.cli.common import Subcommands, command, command_group, counted, opened
from bot.runtime.settings import load_settings

if TYPE_CHECKING:
    from storage.people.leavers import Leaver

LEAVER_COLUMNS = ("committed", "outstanding", "to pay out", "paid out", "donated")
# What becomes of what comes back to a leaver, by MICROLEND_LEAVER_CREDIT.
FATES = {
    "payout": "what comes back to them is paid out to them as it does",
    "donate": "what comes back to them goes to the programme's grant pool",
}


def add(commands: Subcommands) -> None:
    people = command_group(commands, "people", "Lenders' names and time zones from Slack.")
    command(people, "sync", "Copy them from users.list now (run it daily, e.g. from cron).", _sync)
    command(
        commands,
        "leavers",
        "Lenders who left the company (Slack account deactivated): what is still lent in "
        "their name, what finance is to pay out to them and what was paid out or donated.",
        _leavers,
    )


def _sync(_args: argparse.Namespace) -> int:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    from bot.runtime.people_sync import sync_profiles
    from bot.runtime.slack_directory import installation_of
    from storage.db.database import open_database

    settings = load_settings()
    settings.require("people sync", "SLACK_BOT_TOKEN")
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    database = open_database(settings.database_url)
    try:
        org_key = installation_of(client).org_key
        leaver_credit = settings.rules.leaver_credit
        result = sync_profiles(client, database.sessions, org_key, leaver_credit)
    except SlackApiError as failure:
        print(f"microlend: Slack said {failure.response.get('error')}", file=sys.stderr)
        return 1
    finally:
        database.dispose()
    print(
        f"people sync: pages {result.pages:,}, people {result.users_seen:,}, "
        f"lenders updated {result.lenders_updated:,}"
    )
    return 0


def _leavers(_args: argparse.Namespace) -> int:
    from storage.people.leavers import leavers

    with opened() as (settings, database), database.sessions() as session:
        people = leavers(session)
        currency = settings.currency
    if not people:
        print("No lender has left the company.")
        return 0
    fate = FATES[settings.rules.leaver_credit]
    print(f"{counted(len(people), 'leaver')}: {fate} (MICROLEND_LEAVER_CREDIT).")
    print(f"{'user':<12} {'left':<10} " + " ".join(f"{c:>12}" for c in LEAVER_COLUMNS) + "  name")
    for person in people:
        print(_leaver_line(person, currency))
    return 0


def _leaver_line(person: Leaver, currency: str) -> str:
    from storage.ledger.money import format_money

    left = f"{person.left_at:%Y-%m-%d}" if person.left_at else "-"
    amounts = (
        person.committed,
        person.outstanding,
        person.awaiting_payout,
        person.paid_out,
        person.donated,
    )
    figures = " ".join(f"{format_money(amount, currency):>12}" for amount in amounts)
    return f"{person.user_id:<12} {left:<10} {figures}  {person.name}"
