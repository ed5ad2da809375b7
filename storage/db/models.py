"""Records of the unit of work: idempotent operations and deliveries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
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
