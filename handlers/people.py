"""Slack's directory keeps lenders current: ``user_change`` and ``team_join``.

Slack sends ``user_change`` for every profile change of every person, a status emoji too
(https://api.slack.com/events/user_change), so at 115,000 people it is the busiest event the
app gets: it is one indexed UPDATE, no Slack call, and an unknown person creates no row.
``team_join`` (https://api.slack.com/events/team_join) carries the same user object.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import App, BoltContext

from handlers.context import Services, Subcommands
from storage.db.unit_of_work import transaction
from storage.people.directory import Profile, update_profiles

logger = logging.getLogger(__name__)


def profile_of(user: Mapping[str, Any], team_id: str | None, enterprise_id: str | None) -> Profile:
    """A Slack user object (https://api.slack.com/types/user) as the directory's profile, for
    the installation of ``team_id``/``enterprise_id``; a field Slack left out says nothing."""
    profile = user.get("profile") or {}
    # Slack's own order for what to call someone: the name they chose, then their full name.
    name = profile.get("display_name") or user.get("real_name") or user.get("name") or ""
    return Profile(
        user_id=str(user.get("id") or ""),
        display_name=str(name),
        tz=user.get("tz") or None,
        real_name=user.get("real_name") or profile.get("real_name") or None,
        # users.info includes it only when asked (include_locale=true).
        locale=user.get("locale") or None,
        is_restricted=_flag(user, "is_restricted"),
        is_ultra_restricted=_flag(user, "is_ultra_restricted"),
        is_external=_elsewhere(user, team_id, enterprise_id),
        is_bot=_flag(user, "is_bot"),
        deactivated=_flag(user, "deleted"),
    )


def _flag(user: Mapping[str, Any], name: str) -> bool | None:
    value = user.get(name)
    return value if isinstance(value, bool) else None


def _elsewhere(
    user: Mapping[str, Any], team_id: str | None, enterprise_id: str | None
) -> bool | None:
    """Whether the person belongs to another organisation; None when the object does not say."""
    home = user.get("team_id")
    grid = (user.get("enterprise_user") or {}).get("enterprise_id")
    if not home and not grid:
        return None
    return home not in (team_id, enterprise_id) and not (grid and grid == enterprise_id)


def _keep_current(services: Services, context: BoltContext, event: Mapping[str, Any]) -> None:
    user = event.get("user")
    if not isinstance(user, dict) or not user.get("id"):
        logger.info("a %s event without a user object: ignored", event.get("type"))
        return
    profile = profile_of(user, context.team_id, context.enterprise_id)
    if profile.is_external:
        # Someone of another organisation changed their profile in a shared channel.
        return
    org_key = context.enterprise_id or context.team_id or ""
    with transaction(services.db.sessions) as session:
        update_profiles(session, org_key, [profile], services.rules.leaver_credit)


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    @app.event("user_change")
    def on_user_change(event: dict[str, Any], context: BoltContext) -> None:
        _keep_current(services, context, event)

    @app.event("team_join")
    def on_team_join(event: dict[str, Any], context: BoltContext) -> None:
        # A newcomer is not a lender until they use the app; someone coming back may be.
        _keep_current(services, context, event)
