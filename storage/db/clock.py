"""The time as the database stores it."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    # Naive UTC throughout the database, so SQLite and PostgreSQL compare the same way.
    return datetime.now(UTC).replace(tzinfo=None)
