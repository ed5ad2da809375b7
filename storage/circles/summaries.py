"""Each circle's weekly summary post, keyed by ISO week."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.circles.membership import members_here
from storage.circles.models import Circle
from storage.notifications import outbox
from storage.notifications.kinds import Kind
from storage.notifications.outbox import TickResult


def last_week_start(now: datetime) -> date:
    """The Monday of the ISO week before the one ``now`` is in."""
    today = now.date()
    return today - timedelta(days=today.weekday() + 7)


def circle_weekly_summaries(factory: sessionmaker[Session], *, now: datetime) -> TickResult:
    """A summary of last week in each circle's channel, unless its lead turned them off or the
    circle closed (its last member left)."""
    week = last_week_start(now)
    label = f"{week.isocalendar().year}-W{week.isocalendar().week:02d}"
    targets = select(
        outbox.key(f"circle_summary:{label}", Circle.id).label("dedupe_key"),
        Circle.workspace_id.label("workspace_id"),
        outbox.no_id().label("lender_id"),
        Circle.channel_id.label("channel_id"),
        outbox.no_id().label("project_id"),
        Circle.id.label("circle_id"),
    ).where(
        Circle.weekly_summary.is_(True),
        members_here(Circle.id).exists(),
    )
    with factory() as session, session.begin():
        queued = outbox.enqueue_select(
            session,
            kind=Kind.CIRCLE_SUMMARY,
            targets=targets,
            payload={"week_start": week.isoformat()},
            now=now,
        )
    return TickResult(queued, queued)
