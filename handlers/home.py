"""The Home tab: published when the lender opens it (and by other listeners after they act)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from handlers.acks import on_event
from handlers.context import Services, Subcommands, identity_of
from handlers.replies import publish_home
from storage.lending.lenders import meet_lender


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    @on_event(app, "app_home_opened")
    def on_home_opened(
        event: dict[str, Any], body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        if event.get("tab", "home") == "home":
            identity = identity_of(context, body)
            meet_lender(services.db.sessions, identity, now=services.clock())
            publish_home(client, services, identity)
