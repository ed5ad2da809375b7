"""The notification outbox: rows written in the same transaction as the change they announce.

A dedupe key (``repayment:<transaction>:<lender>``) makes every enqueue idempotent, so a
retried operation or a double scheduler tick never produces a second message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from storage.models import Lender, Notification, NotificationStatus


def _insert_ignoring_duplicates(session: Session) -> Any:
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    return dialect.insert(Notification).on_conflict_do_nothing(index_elements=["dedupe_key"])


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    lender_id: int | None = None,
    channel_id: str | None = None,
    workspace_id: int | None = None,
) -> bool:
    """Queue one message; returns False when a message with this key already exists."""
    done = session.execute(
        _insert_ignoring_duplicates(session).values(
            dedupe_key=dedupe_key,
            kind=kind,
            lender_id=lender_id,
            channel_id=channel_id,
            workspace_id=workspace_id,
            payload=payload,
            status=NotificationStatus.PENDING,
            due_at=now,
            attempts=0,
            created_at=now,
        )
    )
    return done.rowcount == 1


def enqueue_for_lenders(
    session: Session,
    *,
    kind: str,
    key_prefix: str,
    lender_ids: Select[tuple[int]],
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """Queue one message per lender chosen by ``lender_ids``, in one set-based statement."""
    chosen = lender_ids.subquery()
    rows = select(
        (literal(f"{key_prefix}:") + Lender.id.cast(String)).label("dedupe_key"),
        literal(kind).label("kind"),
        Lender.workspace_id,
        Lender.id,
        literal(payload, type_=JSON).label("payload"),
        literal(NotificationStatus.PENDING.value).label("status"),
        literal(now).label("due_at"),
        literal(0).label("attempts"),
        literal(now).label("created_at"),
    ).where(Lender.id.in_(select(chosen.c[0])))
    statement = _insert_ignoring_duplicates(session).from_select(
        [
            "dedupe_key",
            "kind",
            "workspace_id",
            "lender_id",
            "payload",
            "status",
            "due_at",
            "attempts",
            "created_at",
        ],
        rows,
    )
    return session.execute(statement).rowcount
