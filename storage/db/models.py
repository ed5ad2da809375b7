"""Records of the unit of work: idempotent operations and deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base


class Operation(Base):
    """The record of an idempotent operation: its key, what it was asked, what it answered."""

    __tablename__ = "operations"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ProcessedEvent(Base):
    """Slack event ids already handled, so a retried delivery is a no-op."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime)


class AcceptedWork(Base):
    """Work a request was acknowledged for and not yet done: kept until it is, so that a
    process that dies after the ack loses nothing (another finishes it)."""

    __tablename__ = "accepted_work"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What to do, in the form of whoever accepted it (a request to dispatch again).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    accepted_at: Mapped[datetime] = mapped_column(DateTime)
    # Until then the work is someone's; after it, any process may take it over.
    lease_until: Mapped[datetime] = mapped_column(DateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
