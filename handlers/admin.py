"""`/lend admin ...`: operator commands, for the user ids in `Services.admins` only."""

from __future__ import annotations

from slack_bolt import App

from handlers.context import CommandRequest, Reply, Services, Subcommand
from templates.render import render_message


def admin(request: CommandRequest) -> Reply:
    if not request.services.is_admin(request.identity.user_id):
        return Reply(render_message("admin_refused.json.j2"))
    return Reply(render_message("admin_help.json.j2", problem=""))


SUBCOMMANDS: dict[str, Subcommand] = {"admin": admin}


def register(app: App, services: Services) -> None:
    """Operator commands have no buttons or events."""
