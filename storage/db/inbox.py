"""Deliveries already handled, so a retried one is recognised and changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db.models import ProcessedEvent
from storage.db.unit_of_work import transaction


def first_delivery(factory: sessionmaker[Session], event_id: str, *, now: datetime) -> bool:
    """Record an event id; False when it was already recorded (a retry or a duplicate)."""
    try:
        with transaction(factory) as session:
            session.execute(insert(ProcessedEvent).values(event_id=event_id[:64], received_at=now))
    except IntegrityError:
        return False
    return True
