"""`/lend circle ...` and `/lend circles`: lending circles in channels."""

from __future__ import annotations

from slack_bolt import App

from handlers.context import CommandRequest, Reply, Services, Subcommand
from templates.render import render_message


def circle(request: CommandRequest) -> Reply:
    return Reply(render_message("circle_help.json.j2", problem=""))


def circles(request: CommandRequest) -> Reply:
    return Reply(render_message("circle_help.json.j2", problem=""))


SUBCOMMANDS: dict[str, Subcommand] = {"circle": circle, "circles": circles}


def register(app: App, services: Services) -> None:
    """Buttons and events of circles; none yet."""
