"""What came in: deliveries already handled (a retried one changes nothing), and work a
request was acknowledged for but not yet done (a process that dies loses none of it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db.models import AcceptedWork, ProcessedEvent
from storage.db.unit_of_work import transaction


def first_delivery(factory: sessionmaker[Session], event_id: str, *, now: datetime) -> bool:
    """Record an event id; False when it was already recorded (a retry or a duplicate)."""
    try:
        with transaction(factory) as session:
            session.execute(insert(ProcessedEvent).values(event_id=event_id[:64], received_at=now))
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class Work:
    id: int
    payload: dict[str, Any]
    attempts: int


def accept(
    factory: sessionmaker[Session], payload: dict[str, Any], *, now: datetime, lease: timedelta
) -> int:
    """Keep what an acknowledged request must still do, before the acknowledgement leaves."""
    with transaction(factory) as session:
        return session.execute(
            insert(AcceptedWork)
            .values(payload=payload, accepted_at=now, lease_until=now + lease, attempts=1)
            .returning(AcceptedWork.id)
        ).scalar_one()


def finish(factory: sessionmaker[Session], work_id: int) -> None:
    with transaction(factory) as session:
        session.execute(delete(AcceptedWork).where(AcceptedWork.id == work_id))


def take_over(
    factory: sessionmaker[Session], *, now: datetime, lease: timedelta, limit: int = 100
) -> list[Work]:
    """Work whose lease ran out (its process died, or is stuck): now this caller's, for a
    lease of its own. On PostgreSQL, rows another process is taking are skipped."""
    with transaction(factory) as session:
        stale = (
            select(AcceptedWork.id)
            .where(AcceptedWork.lease_until < now)
            .order_by(AcceptedWork.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = session.execute(
            update(AcceptedWork)
            .where(AcceptedWork.id.in_(stale.scalar_subquery()), AcceptedWork.lease_until < now)
            .values(lease_until=now + lease, attempts=AcceptedWork.attempts + 1)
            .returning(AcceptedWork.id, AcceptedWork.payload, AcceptedWork.attempts)
        ).all()
    return [Work(work_id, payload, attempts) for work_id, payload, attempts in rows]
