"""What Slack's directory tells us about lenders: names, time zones, locales, who they are.

Three writers share one statement: the first-contact lookup, the ``user_change`` event (the
busiest event at 115,000 people, so one indexed UPDATE and nothing else) and the nightly sync.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    String,
    bindparam,
    case,
    delete,
    false,
    func,
    null,
    or_,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from storage.db.clock import utcnow
from storage.db.engine import rowcount
from storage.installations.models import Workspace
from storage.lending.lenders import SlackIdentity, ensure_lender, find_lender
from storage.lending.models import DirectorySync, Lender, PendingLookup
from storage.lending.rules import LeaverCredit
from storage.people.leavers import settle_leavers

logger = logging.getLogger(__name__)

# A person looked up this recently is not looked up again when they appear.
LOOKUP_FRESH_FOR = timedelta(days=1)


@dataclass(frozen=True)
class Profile:
    """What the directory says about a person; None or empty says nothing: keep what is stored."""

    user_id: str
    display_name: str
    tz: str | None
    real_name: str | None = None
    locale: str | None = None
    is_restricted: bool | None = None
    is_ultra_restricted: bool | None = None
    is_external: bool | None = None
    is_bot: bool | None = None
    deactivated: bool | None = None

    @property
    def may_lend(self) -> bool:
        """Whether meeting them makes them a lender: an active person of this organisation."""
        return not (self.is_external or self.is_bot or self.deactivated)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def known_zone(profile: Profile) -> str | None:
    """The profile's time zone if Python can load it; an unknown one is logged and ignored."""
    if profile.tz and profile.tz not in _zones():
        logger.warning("ignored the unknown time zone %r of %s", profile.tz, profile.user_id)
        return None
    return profile.tz or None


# Each column a profile may set, and the bind parameter its new value travels in.
_TEXT_COLUMNS = {"real_name": 200, "locale": 35}
_FLAG_COLUMNS = ("is_restricted", "is_ultra_restricted", "is_external", "is_bot", "deactivated")


def _row(
    profile: Profile, seen_at: datetime | None, stale_before: datetime | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "p_user": profile.user_id,
        "p_display_name": profile.display_name[:200] or None,
        "p_tz": known_zone(profile),
        "p_looked_up_at": seen_at,
        "p_stale": stale_before,
    }
    for column, length in _TEXT_COLUMNS.items():
        value = getattr(profile, column)
        row[f"p_{column}"] = value[:length] if value else None
    row.update({f"p_{column}": getattr(profile, column) for column in _FLAG_COLUMNS})
    return row


def _new_values() -> dict[str, ColumnElement[Any]]:
    types: dict[str, Any] = {"display_name": String(), "tz": String(), "looked_up_at": DateTime()}
    types |= {column: String() for column in _TEXT_COLUMNS}
    types |= {column: Boolean() for column in _FLAG_COLUMNS}
    # NULL means "keep what is stored": a missing field, an unloadable zone, no name.
    values: dict[str, ColumnElement[Any]] = {
        column: func.coalesce(bindparam(f"p_{column}", type_=kind), getattr(Lender, column))
        for column, kind in types.items()
    }
    # Someone active again is no leaver any more; a new leaving is settled afresh.
    back = bindparam("p_deactivated", type_=Boolean()) == false()
    values["left_at"] = case((back, null()), else_=Lender.left_at)
    return values


def update_profiles(
    session: Session,
    org_key: str,
    profiles: Sequence[Profile],
    leaver_credit: LeaverCredit,
    *,
    seen_at: datetime | None = None,
    stale_before: datetime | None = None,
) -> int:
    """Refresh existing lenders from the directory in one UPDATE; return the rows changed.

    People who never lent are not created: a directory of 115,000 is not 115,000 lenders.
    ``seen_at`` stamps the rows as looked up (a lookup, the sync); a row is rewritten only if
    something changed, it was never looked up, or it was looked up before ``stale_before``.
    Someone the profile says left is settled as a leaver (``storage.people.leavers``) with
    ``leaver_credit``, in the same transaction.
    """
    if not profiles:
        return 0
    changed = _update(session, org_key, profiles, seen_at, stale_before)
    gone = [profile.user_id for profile in profiles if profile.deactivated]
    if gone:
        settle_leavers(session, org_key, gone, leaver_credit, now=seen_at or utcnow())
    return changed


def _update(
    session: Session,
    org_key: str,
    profiles: Sequence[Profile],
    seen_at: datetime | None,
    stale_before: datetime | None,
) -> int:
    rows = [_row(profile, seen_at, stale_before) for profile in profiles]
    values = _new_values()
    workspace = select(Workspace.id).where(Workspace.org_key == org_key).scalar_subquery()
    changed = [
        getattr(Lender, column).is_distinct_from(new)
        for column, new in values.items()
        if column not in ("looked_up_at", "left_at")
    ]
    statement = (
        sql_update(Lender)
        .where(
            Lender.workspace_id == workspace,
            Lender.slack_user_id == bindparam("p_user"),
            # Rewriting unchanged rows every day would only bloat PostgreSQL's tables.
            or_(
                *changed,
                Lender.looked_up_at.is_(None),
                Lender.looked_up_at < bindparam("p_stale", type_=DateTime()),
            ),
        )
        .values(values)
    )
    # core_only: an executemany keyed by our WHERE clause, not the ORM's update-by-primary-key.
    done = session.execute(statement, rows, execution_options={"dml_strategy": "core_only"})
    return rowcount(done)


def lookup_due(session: Session, identity: SlackIdentity, *, now: datetime) -> bool:
    """Whether someone who just appeared should be looked up: new, or not asked for a day."""
    lender = find_lender(session, identity)
    if lender is None or lender.looked_up_at is None:
        return True
    return lender.looked_up_at < now - LOOKUP_FRESH_FOR


def ask_lookup(session: Session, identity: SlackIdentity, *, now: datetime) -> None:
    """Note that Slack is being asked about someone; a lookup asked again keeps its first time,
    so a person whose lookups keep failing has their DMs held back only once."""
    key = (identity.org_key, identity.user_id)
    if session.get(PendingLookup, key) is None:
        session.add(PendingLookup(org_key=key[0], slack_user_id=key[1], asked_at=now))


def settle_lookup(session: Session, identity: SlackIdentity) -> None:
    """Slack answered (even that it knows no such person): nothing waits for it any more."""
    session.execute(
        delete(PendingLookup).where(
            PendingLookup.org_key == identity.org_key,
            PendingLookup.slack_user_id == identity.user_id,
        )
    )


def record_lookup(
    session: Session,
    identity: SlackIdentity,
    profile: Profile,
    leaver_credit: LeaverCredit,
    *,
    now: datetime,
) -> bool:
    """Store what ``users.info`` said of someone who appeared; False if nothing was stored.

    An active person of this organisation is made a lender if the request that brought them
    has not done so yet, so the answer is there for their first DM whichever comes first.
    """
    settle_lookup(session, identity)
    if find_lender(session, identity) is None:
        if not profile.may_lend:
            return False
        ensure_lender(session, identity, now=now)
    return bool(
        update_profiles(
            session, identity.org_key, [profile], leaver_credit, seen_at=now, stale_before=now
        )
    )


def sync_resumes_at(session: Session, org_key: str) -> str:
    """The cursor an unfinished sync of the organisation stopped at; "" to start afresh."""
    found = session.get(DirectorySync, org_key)
    return "" if found is None else found.next_cursor


def sync_page_done(session: Session, org_key: str, next_cursor: str, *, now: datetime) -> None:
    """Written in the page's own transaction: the page and where to resume go together."""
    found = session.get(DirectorySync, org_key)
    if not next_cursor:
        if found is not None:
            session.delete(found)
        return
    if found is None:
        session.add(DirectorySync(org_key=org_key, next_cursor=next_cursor, updated_at=now))
        return
    found.next_cursor, found.updated_at = next_cursor, now
