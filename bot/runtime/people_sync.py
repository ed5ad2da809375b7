"""Lenders' time zones and names from Slack's directory, so DMs wait for their working hours.

``users.list`` is Tier 2 (20+ calls a minute) but returns up to 200 people a call, so a
company of 115,000 takes about 600 pages, half an hour; ``users.info`` per lender would
take a day. Each page is written in its own transaction: memory stays flat, and a sync
that dies half-way loses nothing done so far (the next run simply goes over it again).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy.orm import Session, sessionmaker

from storage.db.unit_of_work import transaction
from storage.people.directory import Profile, update_profiles

PAGE_SIZE = 200
# One page every 3 seconds is Tier 2's 20 a minute: a steady sync never meets a 429.
TIER_2_PAUSE = 3.0
# A 429 is waited out (Retry-After), not fatal: other callers may share the method's budget.
RATE_LIMIT_RETRIES = 5


@dataclass(frozen=True)
class SyncResult:
    pages: int
    # Active people (no bots, no deactivated accounts), lenders or not.
    users_seen: int
    # Lenders whose name or time zone changed.
    lenders_updated: int


def org_key_of(client: WebClient) -> str:
    """The token's organisation as lenders are keyed: the Enterprise Grid, else the team."""
    answer = client.auth_test()
    return str(answer.get("enterprise_id") or answer["team_id"])


def sync_profiles(
    client: WebClient,
    factory: sessionmaker[Session],
    org_key: str,
    *,
    page_size: int = PAGE_SIZE,
    pause: float = TIER_2_PAUSE,
) -> SyncResult:
    """Copy every lender's display name and time zone from ``users.list``, page by page."""
    _wait_out_rate_limits(client)
    pages = users_seen = lenders_updated = 0
    for members in _pages(client, page_size, pause):
        profiles = [_profile(member) for member in members if _is_person(member)]
        with transaction(factory) as session:
            lenders_updated += update_profiles(session, org_key, profiles)
        pages += 1
        users_seen += len(profiles)
    return SyncResult(pages, users_seen, lenders_updated)


def _wait_out_rate_limits(client: WebClient) -> None:
    if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES))


def _pages(client: WebClient, page_size: int, pause: float) -> Iterator[list[dict[str, Any]]]:
    cursor = ""
    while True:
        answer = client.users_list(limit=page_size, cursor=cursor or None)
        yield list(answer.get("members") or [])
        cursor = (answer.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            return
        time.sleep(pause)


def _is_person(member: dict[str, Any]) -> bool:
    return not member.get("is_bot") and not member.get("deleted")


def _profile(member: dict[str, Any]) -> Profile:
    # Slack's own order for what to call someone: the name they chose, then their full name.
    profile = member.get("profile") or {}
    name = profile.get("display_name") or member.get("real_name") or member.get("name") or ""
    return Profile(user_id=str(member["id"]), display_name=str(name), tz=member.get("tz"))
