"""Who is served: only the workspace (or organisation) the app is installed in.

An app's signing secret signs for every workspace that installed it, so a correctly signed
request can still come from somewhere microlend does not run. Bolt resolves the installation
a request belongs to (``authorizations``, the interaction's team); a request whose workspace
is not that installation's is answered with nothing, changes nothing, and leaves one log line.
A person of another organisation (in a Slack Connect channel of the installed workspace) is
told politely that microlend is not open to them yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from handlers.context import Services, Subcommands, home_team_of

logger = logging.getLogger(__name__)

NOT_FOR_OUTSIDERS = (
    "microlend is the lending programme of the organisation that runs this workspace; "
    "people from other organisations cannot use it yet."
)


def _installed(context: BoltContext) -> set[str]:
    found = context.authorize_result
    if found is None:
        return set()
    return {org for org in (found.enterprise_id, found.team_id) if org}


def _only_the_installed_workspace(
    context: BoltContext, body: dict[str, Any], next_: Callable[[], BoltResponse]
) -> BoltResponse | None:
    installed = _installed(context)
    asked = context.enterprise_id or context.team_id
    if installed and asked and asked not in installed:
        logger.warning("refused a request from %s: microlend is not installed there", asked)
        return BoltResponse(status=200, body="")
    home = home_team_of(body)
    if installed and home and home not in installed and not context.enterprise_id:
        logger.info("a person of %s was told microlend is not open to them", home)
        if context.respond is not None:
            context.respond(text=NOT_FOR_OUTSIDERS, response_type="ephemeral")
        return BoltResponse(status=200, body="")
    return next_()


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    # First of all middleware: nothing, not even the record of an event id, happens before it.
    app.middleware(_only_the_installed_workspace)
