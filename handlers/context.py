"""What every listener is given: the services it may call and who is asking."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk import WebClient

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.lending.lenders import SlackIdentity
from storage.lending.rules import LendingRules
from templates.render import RenderedMessage


@dataclass(frozen=True)
class Services:
    """Built once by the app factory in ``bot`` and handed to each ``register(app, services)``."""

    db: Database
    rules: LendingRules
    admins: frozenset[str] = frozenset()
    clock: Callable[[], datetime] = field(default=utcnow)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins


def identity_from(body: Mapping[str, Any]) -> SlackIdentity:
    """Who sent a slash command, an interaction or an event, scoped to their organisation."""
    user = body.get("user")
    if isinstance(user, dict):
        user_id = str(user.get("id", ""))
        team_id = user.get("team_id") or _team_of(body)
        name = str(user.get("name") or user.get("username") or "")
    else:
        user_id = str(body.get("user_id") or user or "")
        team_id = _team_of(body)
        name = str(body.get("user_name") or "")
    enterprise = body.get("enterprise")
    enterprise_id = (
        enterprise.get("id") if isinstance(enterprise, dict) else body.get("enterprise_id")
    )
    return SlackIdentity(
        user_id=user_id,
        team_id=team_id or None,
        enterprise_id=enterprise_id or None,
        display_name=name[:200],
    )


def _team_of(body: Mapping[str, Any]) -> str | None:
    team = body.get("team")
    if isinstance(team, dict):
        return team.get("id")
    return body.get("team_id")


@dataclass(frozen=True)
class CommandRequest:
    """One `/lend SUBCOMMAND ...` call, parsed: what a subcommand function receives."""

    services: Services
    identity: SlackIdentity
    channel_id: str
    args: list[str]
    trigger_id: str
    client: WebClient


@dataclass(frozen=True)
class Reply:
    """What a subcommand answers: ephemeral unless meant for the channel (circle posts)."""

    message: RenderedMessage
    in_channel: bool = False


Subcommand = Callable[[CommandRequest], Reply]
