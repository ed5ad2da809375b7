"""What every listener is given: the services it may call, who is asking, and the table of
`/lend` subcommands each listener module adds its own to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from slack_bolt import BoltContext
from slack_sdk import WebClient

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.lending.lenders import SlackIdentity
from storage.lending.rules import LendingRules
from storage.people.privacy import DEFAULT_RETENTION_DAYS
from templates.render import RenderedMessage, render_message, render_view


class InstallationRegistry(Protocol):
    """The installations the app holds (OAuth mode): what an uninstall makes it forget."""

    def forget(self, enterprise_id: str | None, team_id: str | None) -> None: ...


@dataclass(frozen=True)
class Services:
    """Built once by the app factory in ``bot`` and handed to each ``register(app, services)``."""

    db: Database
    rules: LendingRules
    admins: frozenset[str] = frozenset()
    clock: Callable[[], datetime] = field(default=utcnow)
    # What `/lend privacy` says: whom to ask for an export or erasure, how long messages keep
    # whom they named (MICROLEND_PRIVACY_CONTACT, MICROLEND_RETENTION_DAYS).
    privacy_contact: str | None = None
    retention_days: int = DEFAULT_RETENTION_DAYS
    # None with a single bot token (SLACK_BOT_TOKEN): nothing to forget but the workspace.
    installations: InstallationRegistry | None = None

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    @property
    def currency(self) -> str:
        return self.rules.currency

    def message(self, template: str, **context: Any) -> RenderedMessage:
        """A message template rendered with the programme's currency."""
        return render_message(template, currency=self.rules.currency, **context)

    def view(self, template: str, **context: Any) -> dict[str, Any]:
        """A modal or Home template rendered with the programme's currency."""
        return render_view(template, currency=self.rules.currency, **context)


def identity_of(context: BoltContext, body: Mapping[str, Any]) -> SlackIdentity:
    """Who is asking, in the organisation of the installation the request was served with.

    Bolt resolves the installation from the request (``authorizations`` for events, the team
    of an interaction, the workspace a command was typed in); a payload's own ``user.team_id``
    names the person's home workspace, which differs for someone of another organisation.
    """
    user = body.get("user")
    name = ""
    if isinstance(user, dict):
        name = str(user.get("name") or user.get("username") or "")
    else:
        name = str(body.get("user_name") or "")
    return SlackIdentity(
        user_id=str(context.user_id or ""),
        team_id=context.team_id or None,
        enterprise_id=context.enterprise_id or None,
        display_name=name[:200],
    )


def home_team_of(body: Mapping[str, Any]) -> str | None:
    """The workspace the person belongs to, where the payload says so (interactions)."""
    user = body.get("user")
    team = user.get("team_id") if isinstance(user, dict) else None
    return str(team) if team else None


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
# Every `/lend WORD`: each listener module adds its words when it registers.
Subcommands = dict[str, Subcommand]
