"""Lenders' names and time zones from Slack: `microlend people sync`."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import Subcommands, command, command_group
from bot.runtime.settings import load_settings


def add(commands: Subcommands) -> None:
    people = command_group(commands, "people", "Lenders' names and time zones from Slack.")
    command(people, "sync", "Copy them from users.list now (run it daily, e.g. from cron).", _sync)


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
        result = sync_profiles(client, database.sessions, installation_of(client).org_key)
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
