"""When, whether and in which form a notification goes out: working hours in the lender's own
time zone, digest periods, the rows nobody should receive.

A DM waits for the lender's working hours in their own time zone, and a lender on a daily
or weekly digest hears about a period only after it ends (at the next opening of their
working hours). The time is derived from each row's ``created_at``, so every row of one
lender and one period comes due at the same moment and the worker folds them into one
message."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.installations.models import Workspace
from storage.lending.models import Lender, NotifyMode, PendingLookup
from storage.notifications.delivery_queue import Claimed
from storage.notifications.kinds import DIGEST_TEMPLATE, Audience, Kind

_DIGEST_MODES = (NotifyMode.DAILY, NotifyMode.WEEKLY)
# A DM to someone Slack has not yet told us about (users.info runs after their first ack)
# waits for the answer, looking again this often, for at most this long; after that the
# stored time zone (the workspace's default, UTC) applies and the lookup is asked again later.
# Only a lookup actually asked waits: lenders known before it began never do.
LOOKUP_WAIT = timedelta(minutes=5)
LOOKUP_POLL = timedelta(seconds=15)


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
    # When a users.info for them was asked and not answered yet.
    lookup_asked_at: datetime | None = None
    # They left the company: Slack would refuse a DM to a deactivated account.
    deactivated: bool = False


def load_recipients(session: Session, lender_ids: Iterable[int]) -> dict[int, Recipient]:
    rows = session.execute(
        select(
            Lender.id.label("lender_id"),
            Lender.slack_user_id,
            Workspace.active.label("workspace_active"),
            Lender.notify_mode,
            Lender.tz,
            Lender.work_start_minute,
            Lender.work_end_minute,
            Lender.work_days,
            PendingLookup.asked_at.label("lookup_asked_at"),
            Lender.deactivated,
        )
        .join(Workspace, Workspace.id == Lender.workspace_id)
        .outerjoin(
            PendingLookup,
            (PendingLookup.org_key == Workspace.org_key)
            & (PendingLookup.slack_user_id == Lender.slack_user_id),
        )
        .where(Lender.id.in_(set(lender_ids)))
    ).all()
    return {row.lender_id: Recipient(**row._asdict()) for row in rows}


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


def lookup_wait(recipient: Recipient, now: datetime) -> datetime | None:
    """When to look again whether Slack has told us the lender's time zone; None: go ahead."""
    if recipient.lookup_asked_at is None:
        return None
    deadline = recipient.lookup_asked_at + LOOKUP_WAIT
    return min(now + LOOKUP_POLL, deadline) if now < deadline else None


def delivery_time(recipient: Recipient, created_at: datetime, now: datetime) -> datetime:
    """When a DM created at ``created_at`` may be sent (naive UTC); ``<= now`` means now."""
    waiting = lookup_wait(recipient, now)
    if waiting is not None:
        return waiting
    zone = _zone(recipient.tz)
    earliest = now.replace(tzinfo=UTC).astimezone(zone)
    if recipient.notify_mode in _DIGEST_MODES:
        created = created_at.replace(tzinfo=UTC).astimezone(zone)
        earliest = max(earliest, _period_end(created, recipient.notify_mode))
    opening = _next_opening(earliest, recipient)
    return opening.astimezone(UTC).replace(tzinfo=None)


# -- whether, and in which form ---------------------------------------------------------------

DIGEST_PERIODS = {NotifyMode.DAILY: "daily digest", NotifyMode.WEEKLY: "weekly digest"}


@dataclass(frozen=True)
class DeliveryPlan:
    """What becomes of a claimed batch: sent now, put back until a time, or skipped (why)."""

    send: list[Claimed]
    defer: dict[datetime, list[int]]
    skip: dict[str, list[int]]


def audience_of(row: Claimed) -> Audience:
    kind = Kind.of(row.kind)
    return Audience.CHANNEL if kind is None else kind.audience


def plan_delivery(
    rows: Sequence[Claimed],
    recipients: Mapping[int, Recipient],
    inactive: set[int],
    now: datetime,
) -> DeliveryPlan:
    plan = DeliveryPlan(send=[], defer=defaultdict(list), skip=defaultdict(list))
    for row in rows:
        reason = _skip_reason(row, recipients, inactive)
        if reason:
            plan.skip[reason].append(row.id)
            continue
        recipient = recipients.get(row.lender_id or 0)
        when = delivery_time(recipient, row.created_at, now) if recipient else now
        if when > now:
            plan.defer[when].append(row.id)
        else:
            plan.send.append(row)
    return plan


def _skip_reason(
    row: Claimed, recipients: Mapping[int, Recipient], inactive: set[int]
) -> str | None:
    if Kind.of(row.kind) is None:
        return f"no template for the kind {row.kind!r}"
    if row.workspace_id in inactive:
        return "the app is not installed in this workspace"
    if row.lender_id is None:
        return None if row.channel_id else "no recipient"
    recipient = recipients.get(row.lender_id)
    if recipient is None:
        return "no such lender"
    if not recipient.workspace_active:
        return "the app is not installed in this workspace"
    if recipient.deactivated:
        return "they left the company: their Slack account is deactivated"
    if recipient.notify_mode == NotifyMode.OFF:
        return "the lender turned notifications off"
    return None


def lender_template(rows: Sequence[Claimed], mode: NotifyMode) -> str:
    """A lender's message: the kind's own, unless it folds several kinds or a digest period."""
    kinds = {row.kind for row in rows}
    if mode in DIGEST_PERIODS or len(kinds) > 1:
        return DIGEST_TEMPLATE
    return Kind(kinds.pop()).template
