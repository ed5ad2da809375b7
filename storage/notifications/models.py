"""The outbox of notifications and the shared send budget."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.db.base import Base, string_enum


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    SKIPPED = "skipped"


class Notification(Base):
    """The outbox: a message that exists exactly when the change that caused it was committed."""

    __tablename__ = "notifications"
    # Claims take the oldest due rows in (due_at, id) order: with id in the index a claim reads
    # its batch, not every due row of a round (which all share one due_at) to sort them.
    __table_args__ = (
        Index("ix_notifications_status_due_at_id", "status", "due_at", "id"),
        # A claim asks of each channel post whether an earlier one to its channel is unsettled
        # (storage.notifications.delivery_queue); DMs, the bulk of the rows, stay out of it.
        Index(
            "ix_notifications_channel_posts",
            "channel_id",
            "status",
            "created_at",
            "id",
            postgresql_where=text("lender_id IS NULL"),
            sqlite_where=text("lender_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id"))
    lender_id: Mapped[int | None] = mapped_column(ForeignKey("lenders.id"), index=True)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"))
    circle_id: Mapped[int | None] = mapped_column(ForeignKey("circles.id"))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[NotificationStatus] = mapped_column(
        string_enum(NotificationStatus, "notification_status"), default=NotificationStatus.PENDING
    )
    due_at: Mapped[datetime] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class SendBudget(Base):
    """A send rate that every worker process shares: the next free slot and any pause.

    Times are epoch seconds from the workers' own clocks, not the database's: a worker sleeps on
    its clock until its slot, so slots must be in its terms, and hosts kept in step by NTP agree
    to within milliseconds, far finer than the spacing Slack asks for.
    """

    __tablename__ = "send_budgets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_slot: Mapped[float] = mapped_column(Double)
    paused_until: Mapped[float] = mapped_column(Double)
