"""The notification outbox: rows written in the same transaction as the change they announce.

A dedupe key (``repayment:<transaction>:<lender>``) makes every enqueue idempotent, so a
retried operation or a double scheduler tick never produces a second message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    Integer,
    Select,
    SQLColumnExpression,
    String,
    cast,
    literal,
    null,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import JSON

from storage.circles.models import Circle
from storage.db.engine import rowcount
from storage.lending.models import Lender, Pledge
from storage.notifications.kinds import Kind
from storage.notifications.models import Notification, NotificationStatus

# The columns a set-based enqueue chooses per row; the rest are the same for every row.
TARGET_COLUMNS = (
    "dedupe_key",
    "workspace_id",
    "lender_id",
    "channel_id",
    "project_id",
    "circle_id",
)
# A query of targets: its columns, in order, are TARGET_COLUMNS.
Targets: TypeAlias = Select[str, int, int, str, int, int]


def _insert_ignoring_duplicates(session: Session) -> Any:
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    return dialect.insert(Notification).on_conflict_do_nothing(index_elements=["dedupe_key"])


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    kind: Kind,
    payload: dict[str, Any],
    now: datetime,
    lender_id: int | None = None,
    channel_id: str | None = None,
    workspace_id: int | None = None,
    project_id: int | None = None,
    circle_id: int | None = None,
) -> bool:
    """Queue one message; returns False when a message with this key already exists."""
    inserted = session.execute(
        _insert_ignoring_duplicates(session)
        .values(
            dedupe_key=dedupe_key,
            kind=kind,
            lender_id=lender_id,
            channel_id=channel_id,
            workspace_id=workspace_id,
            project_id=project_id,
            circle_id=circle_id,
            payload=payload,
            status=NotificationStatus.PENDING,
            due_at=now,
            attempts=0,
            created_at=now,
        )
        # RETURNING, not the row count: psycopg counts no row for ON CONFLICT DO NOTHING.
        .returning(Notification.id)
    ).scalar_one_or_none()
    return inserted is not None


def enqueue_select(
    session: Session, *, kind: Kind, targets: Targets, payload: dict[str, Any], now: datetime
) -> int:
    """Queue one message per row of ``targets`` (labelled as TARGET_COLUMNS), in one statement."""
    chosen = targets.subquery()
    rows = select(
        *(chosen.c[name] for name in TARGET_COLUMNS),
        literal(kind).label("kind"),
        literal(payload, type_=JSON).label("payload"),
        literal(NotificationStatus.PENDING.value).label("status"),
        literal(now).label("due_at"),
        literal(0).label("attempts"),
        literal(now).label("created_at"),
    ).where(true())  # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT
    columns = [*TARGET_COLUMNS, "kind", "payload", "status", "due_at", "attempts", "created_at"]
    statement = _insert_ignoring_duplicates(session).from_select(columns, rows)
    return rowcount(session.execute(statement))


def key(prefix: str, *parts: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """A dedupe key built in SQL: ``prefix:part:part``."""
    expression: ColumnElement[str] = literal(prefix)
    for part in parts:
        expression = expression + literal(":") + cast(part, String)
    return expression


def no_id() -> ColumnElement[int]:
    # Typed NULLs: PostgreSQL will not put an untyped NULL from a SELECT into an integer column.
    return null().cast(Integer)


def no_text() -> ColumnElement[str]:
    return null().cast(String)


def lender_targets(prefix: str, project_ids: Select[int]) -> Targets:
    """One target per (project, lender) among the live pledges of the chosen projects."""
    return (
        select(
            key(prefix, Pledge.project_id, Pledge.lender_id).label("dedupe_key"),
            Lender.workspace_id.label("workspace_id"),
            Pledge.lender_id.label("lender_id"),
            no_text().label("channel_id"),
            Pledge.project_id.label("project_id"),
            no_id().label("circle_id"),
        )
        .join(Lender, Lender.id == Pledge.lender_id)
        .where(Pledge.project_id.in_(project_ids))
        .distinct()
    )


def circle_targets(prefix: str, project_ids: Select[int]) -> Targets:
    """One target per (project, circle) that lent to the chosen projects: a channel post."""
    return (
        select(
            key(prefix, Pledge.project_id, Circle.id).label("dedupe_key"),
            Circle.workspace_id.label("workspace_id"),
            no_id().label("lender_id"),
            Circle.channel_id.label("channel_id"),
            Pledge.project_id.label("project_id"),
            Circle.id.label("circle_id"),
        )
        .join(Circle, Circle.id == Pledge.circle_id)
        .where(Pledge.project_id.in_(project_ids))
        .distinct()
    )


def announce_to_lenders_and_circles(
    session: Session, kind: Kind, project_ids: Select[int], now: datetime
) -> None:
    """Tell every lender of the chosen projects, and every circle that lent to them."""
    enqueue_select(
        session, kind=kind, targets=lender_targets(kind, project_ids), payload={}, now=now
    )
    posts = kind.in_circles
    enqueue_select(
        session, kind=posts, targets=circle_targets(posts, project_ids), payload={}, now=now
    )


@dataclass(frozen=True)
class TickResult:
    """What a tick did: rows changed (projects flagged, ...) and notifications queued."""

    changed: int
    queued: int
