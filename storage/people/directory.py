"""What Slack's directory tells us about lenders: names, time zones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from sqlalchemy import ColumnElement, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from storage.db.engine import rowcount
from storage.installations.models import Workspace
from storage.lending.models import Lender


@dataclass(frozen=True)
class Profile:
    """What the directory says about a person; empty or unknown values say nothing."""

    user_id: str
    display_name: str
    tz: str | None


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def update_profiles(session: Session, org_key: str, profiles: Sequence[Profile]) -> int:
    """Refresh existing lenders' names and time zones in one UPDATE; return the rows changed.

    People who never lent are not created: a directory of 115,000 is not 115,000 lenders.
    """
    workspace_id = session.execute(
        select(Workspace.id).where(Workspace.org_key == org_key)
    ).scalar_one_or_none()
    if workspace_id is None or not profiles:
        return 0
    # NULL means "keep what is stored": a zone the delivery worker could not load, or no name.
    rows = [
        {
            "p_user": p.user_id,
            "p_name": p.display_name[:200] or None,
            "p_tz": p.tz if p.tz in _zones() else None,
        }
        for p in profiles
    ]
    new_name: ColumnElement[str] = func.coalesce(bindparam("p_name"), Lender.display_name)
    new_tz: ColumnElement[str] = func.coalesce(bindparam("p_tz"), Lender.tz)
    statement = (
        update(Lender)
        .where(
            Lender.workspace_id == workspace_id,
            Lender.slack_user_id == bindparam("p_user"),
            # Rewriting unchanged rows every day would only bloat PostgreSQL's tables.
            or_(Lender.display_name != new_name, Lender.tz != new_tz),
        )
        .values(display_name=new_name, tz=new_tz)
    )
    # core_only: an executemany keyed by our WHERE clause, not the ORM's update-by-primary-key.
    done = session.execute(statement, rows, execution_options={"dml_strategy": "core_only"})
    return rowcount(done)
