"""The lending subcommands of /lend, their buttons and their modals."""

from __future__ import annotations

from slack_bolt import App

from handlers.context import Services, Subcommand

SUBCOMMANDS: dict[str, Subcommand] = {}


def register(app: App, services: Services) -> None:
    pass
