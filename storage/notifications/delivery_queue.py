"""The delivery side of the outbox: claim due rows under a lease, then settle them.

A claim is one short transaction: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets several workers
take disjoint rows, and the rows leave the transaction marked ``sending`` with a ``lease_until``,
so no transaction stays open while a message is on its way. A worker that dies leaves its rows
``sending``; once the lease has passed any worker claims them again (at-least-once delivery, with
duplicates bounded by what was in flight). On SQLite ``BEGIN IMMEDIATE`` serialises claims and
``with_for_update`` renders nothing, so one worker runs there.

Posts to one channel (a circle's) go out one at a time, in the order their events happened: a
post is claimed only once every earlier post to its channel is settled, so neither sender
threads, nor several workers, nor a retry can put a later post above an earlier one. A lender's
DMs are claimed as before: they fold into one message anyway.

Every settlement is one set-based UPDATE over the ids of a message, never one per row, and
touches only rows still held under the lease it names: a worker settling after its lease ran out
must not undo the claim of the worker that took the rows back.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select, tuple_, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from storage.db.engine import rowcount
from storage.notifications.models import Notification, NotificationStatus

_CLAIMED_COLUMNS = (
    Notification.id,
    Notification.kind,
    Notification.workspace_id,
    Notification.lender_id,
    Notification.channel_id,
    Notification.project_id,
    Notification.circle_id,
    Notification.payload,
    Notification.attempts,
    Notification.created_at,
    Notification.lease_until,
)


@dataclass(frozen=True)
class Claimed:
    """One outbox row this worker holds until its lease ends."""

    id: int
    kind: str
    workspace_id: int | None
    lender_id: int | None
    channel_id: str | None
    project_id: int | None
    circle_id: int | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    lease_until: datetime


def claim_due(
    factory: sessionmaker[Session], *, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to ``limit`` due rows, plus every other due row of the same lenders.

    Taking a lender's whole backlog at once is what lets the worker fold it into one message.
    """
    with factory() as session, session.begin():
        # Rows a crashed worker left behind first: they are the oldest promises.
        seeds = _lock_ids(session, and_(_lease_expired(now), _in_turn()), limit)
        seeds += _lock_ids(session, and_(_pending_due(now), _in_turn()), limit - len(seeds))
        if not seeds:
            return []
        ids = set(seeds)
        lenders = _lenders_of(session, ids)
        if lenders:
            same_lenders = and_(Notification.lender_id.in_(lenders), Notification.id.not_in(ids))
            ids.update(_lock_ids(session, and_(_pending_due(now), same_lenders), None))
        rows = session.execute(
            update(Notification)
            .where(Notification.id.in_(ids))
            .values(status=NotificationStatus.SENDING, lease_until=now + lease)
            .returning(*_CLAIMED_COLUMNS)
        ).all()
    # By name: the typed columns stop at eight, so a positional row would not type-check.
    return [Claimed(**row._mapping) for row in sorted(rows, key=lambda row: row.id)]


def due_count(session: Session, *, now: datetime) -> int:
    """Rows a claim at ``now`` would find (pending and due, or with an expired lease), and
    in turn: a post behind an earlier one to its channel is not due until that one settles."""
    condition = and_(or_(_pending_due(now), _lease_expired(now)), _in_turn())
    return session.execute(select(func.count()).where(condition)).scalar_one()


def _pending_due(now: datetime) -> Any:
    return and_(Notification.status == NotificationStatus.PENDING, Notification.due_at <= now)


def _lease_expired(now: datetime) -> Any:
    return and_(Notification.status == NotificationStatus.SENDING, Notification.lease_until < now)


_UNSETTLED = (NotificationStatus.PENDING, NotificationStatus.SENDING)


def _in_turn() -> Any:
    """A DM, or a post with no earlier unsettled post to its channel (by the event's time)."""
    earlier = aliased(Notification)
    return or_(
        Notification.lender_id.is_not(None),
        ~exists().where(
            earlier.lender_id.is_(None),
            earlier.channel_id == Notification.channel_id,
            earlier.status.in_(_UNSETTLED),
            tuple_(earlier.created_at, earlier.id)
            < tuple_(Notification.created_at, Notification.id),
        ),
    )


def _lock_ids(session: Session, condition: Any, limit: int | None) -> list[int]:
    query = (
        select(Notification.id)
        .where(condition)
        .order_by(Notification.due_at, Notification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.execute(query).scalars())


def _lenders_of(session: Session, ids: Collection[int]) -> list[int]:
    query = (
        select(Notification.lender_id)
        .where(Notification.id.in_(ids), Notification.lender_id.is_not(None))
        .distinct()
    )
    return [lender for lender in session.execute(query).scalars() if lender is not None]


def _settle(
    factory: sessionmaker[Session], ids: Collection[int], lease_until: datetime, **values: Any
) -> int:
    # Only rows still held under this lease are settled: an operator's retry in between wins,
    # and so does another worker's claim after the lease expired.
    with factory() as session, session.begin():
        return rowcount(
            session.execute(
                update(Notification)
                .where(
                    Notification.id.in_(ids),
                    Notification.status == NotificationStatus.SENDING,
                    Notification.lease_until == lease_until,
                )
                .values(lease_until=None, **values)
                .execution_options(synchronize_session=False)
            )
        )


def mark_sent(
    factory: sessionmaker[Session], ids: Collection[int], *, lease_until: datetime, now: datetime
) -> int:
    return _settle(
        factory, ids, lease_until, status=NotificationStatus.SENT, sent_at=now, last_error=None
    )


def defer(
    factory: sessionmaker[Session], ids: Collection[int], *, lease_until: datetime, until: datetime
) -> int:
    """Put rows back to wait (working hours, digest period); not an attempt."""
    return _settle(factory, ids, lease_until, status=NotificationStatus.PENDING, due_at=until)


def skip(
    factory: sessionmaker[Session], ids: Collection[int], *, lease_until: datetime, reason: str
) -> int:
    """Rows nobody should receive (app uninstalled, lender opted out)."""
    return _settle(
        factory, ids, lease_until, status=NotificationStatus.SKIPPED, last_error=reason[:2000]
    )


def fail(
    factory: sessionmaker[Session],
    ids: Collection[int],
    *,
    lease_until: datetime,
    error: str,
    retry_at: datetime,
    max_attempts: int,
) -> int:
    """Count a failed attempt: back to pending at ``retry_at``, or dead once attempts run out."""
    attempts = Notification.attempts + 1
    return _settle(
        factory,
        ids,
        lease_until,
        attempts=attempts,
        status=case(
            (attempts >= max_attempts, NotificationStatus.DEAD.value),
            else_=NotificationStatus.PENDING.value,
        ),
        due_at=retry_at,
        last_error=error[:2000],
    )


def kill(
    factory: sessionmaker[Session], ids: Collection[int], *, lease_until: datetime, error: str
) -> int:
    """Dead at once: retrying cannot help (the channel is gone); an operator may revive it."""
    return _settle(
        factory,
        ids,
        lease_until,
        attempts=Notification.attempts + 1,
        status=NotificationStatus.DEAD,
        last_error=error[:2000],
    )


# -- for operators ---------------------------------------------------------------------------


class OutboxView(enum.StrEnum):
    """What ``microlend outbox`` lists: waiting, retrying after failures, or given up."""

    PENDING = "pending"
    FAILED = "failed"
    DEAD = "dead"


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    kind: str
    status: str
    attempts: int
    due_at: datetime
    lender_id: int | None
    channel_id: str | None
    last_error: str | None
    created_at: datetime


def _view_condition(view: OutboxView) -> Any:
    status = Notification.status
    if view is OutboxView.DEAD:
        return status == NotificationStatus.DEAD
    retried = Notification.attempts > 0
    # A failed row is one waiting to be tried again after at least one failed attempt.
    return and_(
        status == NotificationStatus.PENDING, retried if view is OutboxView.FAILED else ~retried
    )


def list_entries(session: Session, view: OutboxView, *, limit: int = 50) -> list[OutboxEntry]:
    rows = session.execute(
        select(
            Notification.id,
            Notification.kind,
            Notification.status,
            Notification.attempts,
            Notification.due_at,
            Notification.lender_id,
            Notification.channel_id,
            Notification.last_error,
            Notification.created_at,
        )
        .where(_view_condition(view))
        .order_by(Notification.due_at, Notification.id)
        .limit(limit)
    ).all()
    return [OutboxEntry(row[0], row[1], str(row[2]), *row[3:]) for row in rows]


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Notification.status, func.count()).group_by(Notification.status)
    ).all()
    return {str(status): count for status, count in rows}


def revive(factory: sessionmaker[Session], notification_id: int, *, now: datetime) -> bool:
    """Give a dead, failed or skipped row a fresh start; a sent or leased row is left alone."""
    with factory() as session, session.begin():
        done = session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.status.in_(
                    [
                        NotificationStatus.DEAD,
                        NotificationStatus.PENDING,
                        NotificationStatus.SKIPPED,
                    ]
                ),
            )
            .values(status=NotificationStatus.PENDING, attempts=0, due_at=now, last_error=None)
            .execution_options(synchronize_session=False)
        )
        return rowcount(done) == 1
