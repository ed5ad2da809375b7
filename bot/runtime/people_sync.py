"""Lenders' time zones and names from Slack's directory, so DMs wait for their working hours.

``users.list`` is Tier 2 (20+ calls a minute) but returns up to 200 people a call, so a
company of 115,000 takes about 600 pages, half an hour; ``users.info`` per lender would
take a day. Each page is written in its own transaction: memory stays flat, and a sync
that dies half-way loses nothing done so far (the next run simply goes over it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.slack_directory import (
    PAGE_SIZE,
    TIER_2_PAUSE,
    directory_pages,
    person_problem,
    wait_out_rate_limits,
)
from storage.db.unit_of_work import transaction
from storage.people.directory import Profile, update_profiles


@dataclass(frozen=True)
class SyncResult:
    pages: int
    # Active people (no bots, no deactivated accounts), lenders or not.
    users_seen: int
    # Lenders whose name or time zone changed.
    lenders_updated: int


def sync_profiles(
    client: WebClient,
    factory: sessionmaker[Session],
    org_key: str,
    *,
    page_size: int = PAGE_SIZE,
    pause: float = TIER_2_PAUSE,
) -> SyncResult:
    """Copy every lender's display name and time zone from ``users.list``, page by page."""
    wait_out_rate_limits(client)
    pages = users_seen = lenders_updated = 0
    for members in directory_pages(client, page_size, pause):
        profiles = [_profile(member) for member in members if person_problem(member) is None]
        with transaction(factory) as session:
            lenders_updated += update_profiles(session, org_key, profiles)
        pages += 1
        users_seen += len(profiles)
    return SyncResult(pages, users_seen, lenders_updated)


def _profile(member: dict[str, Any]) -> Profile:
    # Slack's own order for what to call someone: the name they chose, then their full name.
    profile = member.get("profile") or {}
    name = profile.get("display_name") or member.get("real_name") or member.get("name") or ""
    return Profile(user_id=str(member["id"]), display_name=str(name), tz=member.get("tz"))
