"""Events API listeners: the Home tab opening, and the app leaving a workspace.

Slack retries an event it thinks failed (`X-Slack-Retry-Num`); every event id is recorded
on arrival so that a retry, or a second instance receiving the same delivery, does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient

from handlers.acks import on_event
from handlers.context import Services, identity_from
from handlers.home import publish_home
from storage.db.inbox import first_delivery
from storage.db.unit_of_work import transaction
from storage.installations.workspaces import deactivate_workspace
from storage.lending.lenders import SlackIdentity

logger = logging.getLogger(__name__)


def _skip_repeated_events(services: Services) -> Callable[..., BoltResponse | None]:
    def middleware(
        body: dict[str, Any], request: BoltRequest, next_: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        # A worker process dispatches an event again to answer it (lazy only): not a retry.
        if request.lazy_only:
            return next_()
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not first_delivery(
            services.db.sessions, str(event_id), now=services.clock()
        ):
            logger.info("event %s already handled; acknowledging the retry", event_id)
            return BoltResponse(status=200, body="")
        return next_()

    return middleware


def event_identity(body: dict[str, Any], user_id: str) -> SlackIdentity:
    """Who an event is about: the envelope names the organisation, the event the user."""
    return identity_from(
        {
            "user_id": user_id,
            "team_id": body.get("team_id"),
            "enterprise_id": body.get("enterprise_id"),
        }
    )


def _stop_sending(services: Services, body: dict[str, Any]) -> None:
    org_key = event_identity(body, "").org_key
    with transaction(services.db.sessions) as session:
        if deactivate_workspace(session, org_key, now=services.clock()):
            logger.warning("workspace %s removed the app: no more messages to it", org_key)


def register(app: App, services: Services) -> None:
    app.middleware(_skip_repeated_events(services))

    @on_event(app, "app_home_opened")
    def on_home_opened(event: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") == "home":
            publish_home(client, services, event_identity(body, str(event.get("user", ""))))

    @app.event("app_uninstalled")
    def on_uninstalled(body: dict[str, Any]) -> None:
        _stop_sending(services, body)

    @app.event("tokens_revoked")
    def on_tokens_revoked(event: dict[str, Any], body: dict[str, Any]) -> None:
        # Only the bot token matters: without it nothing can be sent to the workspace.
        if (event.get("tokens") or {}).get("bot"):
            _stop_sending(services, body)
