"""A send rate shared through the database by every process that sends.

One row per budget name holds the next free slot and the end of any pause. A reservation books a
block of slots in one statement (an upsert with ``RETURNING``), so concurrent processes get
disjoint slots: PostgreSQL applies concurrent upserts of a row one after the other, SQLite's
``BEGIN IMMEDIATE`` serialises them. The caller sleeps on its slots with no transaction open.
The first reservation or pause of a name creates its row.

Times are epoch seconds from the caller's clock (see ``storage.notifications.models.SendBudget``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from storage.notifications.models import SendBudget


@dataclass(frozen=True)
class Booking:
    """Slots booked for one caller, and the end of the pause known when they were booked."""

    slots: tuple[float, ...]
    paused_until: float


def reserve(
    factory: sessionmaker[Session], name: str, *, count: int, interval: float, now: float
) -> Booking:
    """Book ``count`` slots ``interval`` apart, from the first free moment not inside a pause."""
    with factory() as session, session.begin():
        start = _greatest(session, SendBudget.next_slot, SendBudget.paused_until, now)
        end, paused_until = session.execute(
            _upsert(session, name, next_slot=now + count * interval, paused_until=0.0)
            .on_conflict_do_update(
                index_elements=["name"], set_={"next_slot": start + count * interval}
            )
            .returning(SendBudget.next_slot, SendBudget.paused_until)
        ).one()
    # RETURNING gives the new row only, so the block's start is counted back from its end.
    # (float(): SQLite may return a whole-number REAL as an int.)
    first = float(end) - count * interval
    return Booking(tuple(first + n * interval for n in range(count)), float(paused_until))


def pause(factory: sessionmaker[Session], name: str, *, until: float) -> None:
    """Hold every sender until ``until``; an earlier end than the one recorded changes nothing."""
    with factory() as session, session.begin():
        later = _greatest(session, SendBudget.paused_until, until)
        session.execute(
            _upsert(session, name, next_slot=0.0, paused_until=until).on_conflict_do_update(
                index_elements=["name"], set_={"paused_until": later}
            )
        )


@dataclass(frozen=True)
class SharedBudget:
    """One named budget on one database, for a rate limiter to hold on to."""

    factory: sessionmaker[Session]
    name: str

    def reserve(self, count: int, interval: float, now: float) -> Booking:
        return reserve(self.factory, self.name, count=count, interval=interval, now=now)

    def pause(self, until: float) -> None:
        pause(self.factory, self.name, until=until)


def _upsert(session: Session, name: str, **values: float) -> Any:
    dialect = sqlite if _is_sqlite(session) else postgresql
    return dialect.insert(SendBudget).values(name=name, **values)


def _greatest(session: Session, *values: Any) -> Any:
    # SQLite's max() with several arguments is PostgreSQL's greatest().
    return func.max(*values) if _is_sqlite(session) else func.greatest(*values)


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"
