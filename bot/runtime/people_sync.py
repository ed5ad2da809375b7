"""Lenders' time zones and names from Slack's directory, so DMs wait for their working hours.

``users.list`` is Tier 2 (20+ calls a minute) but returns up to 200 people a call, so a
company of 115,000 takes about 600 pages, half an hour; ``users.info`` per lender would
take a day. Each page is written in its own transaction with the cursor of the next one:
memory stays flat, and a sync that dies half-way resumes at the page it had not finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.slack_directory import (
    A_BOT,
    PAGE_SIZE,
    TIER_2_PAUSE,
    directory_pages,
    person_problem,
    wait_out_rate_limits,
)
from handlers.people import profile_of
from storage.db.clock import utcnow
from storage.db.unit_of_work import transaction
from storage.lending.rules import LeaverCredit
from storage.people.directory import (
    Profile,
    sync_page_done,
    sync_resumes_at,
    update_profiles,
)


@dataclass(frozen=True)
class SyncResult:
    pages: int
    # Active people (no bots, no deactivated accounts), lenders or not.
    users_seen: int
    # Lenders whose profile changed (or who were never looked up before).
    lenders_updated: int

    @classmethod
    def total(cls, results: list[SyncResult]) -> SyncResult:
        """The syncs of several installations, as one."""
        return cls(
            sum(r.pages for r in results),
            sum(r.users_seen for r in results),
            sum(r.lenders_updated for r in results),
        )


def sync_profiles(
    client: WebClient,
    factory: sessionmaker[Session],
    org_key: str,
    leaver_credit: LeaverCredit,
    *,
    page_size: int = PAGE_SIZE,
    pause: float = TIER_2_PAUSE,
) -> SyncResult:
    """Copy every lender's profile from ``users.list``, page by page; deactivated people are
    stored as such (leavers), bots and other organisations' people are left alone."""
    wait_out_rate_limits(client)
    pages = users_seen = lenders_updated = 0
    with factory() as session:
        start = sync_resumes_at(session, org_key)
    for members, next_cursor in directory_pages(client, page_size, pause, start):
        profiles = _profiles(members, org_key)
        with transaction(factory) as session:
            now = utcnow()
            lenders_updated += update_profiles(
                session, org_key, profiles, leaver_credit, seen_at=now
            )
            sync_page_done(session, org_key, next_cursor, now=now)
        pages += 1
        users_seen += sum(1 for member in members if person_problem(member) is None)
    return SyncResult(pages, users_seen, lenders_updated)


def _profiles(members: list[dict[str, Any]], org_key: str) -> list[Profile]:
    # The organisation's key names both its workspace and, on Enterprise Grid, the grid.
    found = (profile_of(member, org_key, org_key) for member in members)
    people = [p for p, m in zip(found, members, strict=True) if person_problem(m) != A_BOT]
    return [profile for profile in people if not profile.is_external]
