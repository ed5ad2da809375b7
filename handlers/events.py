"""Events API listeners: the app leaving a workspace, and the de-duplication of every event.

Slack retries an event it thinks failed (`X-Slack-Retry-Num`); every event id is recorded
on arrival so that a retry, or a second instance receiving the same delivery, does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse

from handlers.context import Services, Subcommands
from storage.db.inbox import first_delivery
from storage.installations.workspaces import deactivate_workspace

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


def _stop_sending(services: Services, context: BoltContext) -> None:
    """Forget the installation's tokens and stop sending there; its money records stay."""
    org_key = context.enterprise_id or context.team_id or ""
    if services.installations is not None:
        team = None if context.is_enterprise_install else context.team_id
        services.installations.forget(context.enterprise_id, team)
    if deactivate_workspace(services.db.sessions, org_key, now=services.clock()):
        logger.warning("workspace %s removed the app: no more messages to it", org_key)


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    app.middleware(_skip_repeated_events(services))

    @app.event("app_uninstalled")
    def on_uninstalled(context: BoltContext) -> None:
        _stop_sending(services, context)

    @app.event("tokens_revoked")
    def on_tokens_revoked(event: dict[str, Any], context: BoltContext) -> None:
        # Only the bot token matters: without it nothing can be sent to the workspace.
        if (event.get("tokens") or {}).get("bot"):
            _stop_sending(services, context)
