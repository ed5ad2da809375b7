"""When a lender is told: working hours in their own time zone, and digest periods.

A DM waits for the lender's working hours in their own time zone, and a lender on a daily
or weekly digest hears about a period only after it ends (at the next opening of their
working hours). The time is derived from each row's ``created_at``, so every row of one
lender and one period comes due at the same moment and the worker folds them into one
message."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.installations.models import Workspace
from storage.lending.models import Lender, NotifyMode

_DIGEST_MODES = (NotifyMode.DAILY, NotifyMode.WEEKLY)


# -- when --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    lender_id: int
    slack_user_id: str
    workspace_active: bool
    notify_mode: NotifyMode
    tz: str
    work_start_minute: int
    work_end_minute: int
    work_days: int


def load_recipients(session: Session, lender_ids: Iterable[int]) -> dict[int, Recipient]:
    rows = session.execute(
        select(
            Lender.id,
            Lender.slack_user_id,
            Workspace.active,
            Lender.notify_mode,
            Lender.tz,
            Lender.work_start_minute,
            Lender.work_end_minute,
            Lender.work_days,
        )
        .join(Workspace, Workspace.id == Lender.workspace_id)
        .where(Lender.id.in_(set(lender_ids)))
    ).all()
    return {row[0]: Recipient(*row) for row in rows}


def inactive_workspaces(session: Session, workspace_ids: Iterable[int]) -> set[int]:
    query = select(Workspace.id).where(
        Workspace.id.in_(set(workspace_ids)), Workspace.active.is_(False)
    )
    return set(session.execute(query).scalars())


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Slack's zone names are IANA names; anything else is better served in UTC than lost.
        return UTC


def _is_working(moment: datetime, recipient: Recipient) -> bool:
    minute = moment.hour * 60 + moment.minute
    works_today = (recipient.work_days >> moment.weekday()) & 1
    return bool(works_today) and recipient.work_start_minute <= minute < recipient.work_end_minute


def _next_opening(moment: datetime, recipient: Recipient) -> datetime:
    """``moment`` if it is inside working hours, else the next start of them (local time)."""
    if _is_working(moment, recipient):
        return moment
    start = time(recipient.work_start_minute // 60, recipient.work_start_minute % 60)
    for offset in range(8):
        day = moment.date() + timedelta(days=offset)
        opening = datetime.combine(day, start, tzinfo=moment.tzinfo)
        if (recipient.work_days >> day.weekday()) & 1 and opening >= moment:
            return opening
    # No working day at all: the preference cannot be honoured, so do not hold messages forever.
    return moment


def _period_end(created: datetime, mode: NotifyMode) -> datetime:
    """The first local midnight after the day (daily) or ISO week (weekly) of ``created``."""
    days = 1 if mode == NotifyMode.DAILY else 7 - created.weekday()
    midnight = datetime.combine(created.date() + timedelta(days=days), time(), created.tzinfo)
    return midnight


def delivery_time(recipient: Recipient, created_at: datetime, now: datetime) -> datetime:
    """When a DM created at ``created_at`` may be sent (naive UTC); ``<= now`` means now."""
    zone = _zone(recipient.tz)
    earliest = now.replace(tzinfo=UTC).astimezone(zone)
    if recipient.notify_mode in _DIGEST_MODES:
        created = created_at.replace(tzinfo=UTC).astimezone(zone)
        earliest = max(earliest, _period_end(created, recipient.notify_mode))
    opening = _next_opening(earliest, recipient)
    return opening.astimezone(UTC).replace(tzinfo=None)
