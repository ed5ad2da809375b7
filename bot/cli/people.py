"""Lenders' names and time zones from Slack: `microlend people sync`."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import Subcommands, command, command_group, counted
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
    if not settings.slack_bot_token:
        print("microlend: set SLACK_BOT_TOKEN to read Slack's directory", file=sys.stderr)
        return 2
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
        f"people sync: {counted(result.users_seen, 'person', 'people')} "
        f"in {counted(result.pages, 'page')}; {counted(result.lenders_updated, 'lender')} updated"
    )
    return 0
