"""Workspaces and organisations lenders and circles belong to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db.engine import rowcount
from storage.db.unit_of_work import transaction
from storage.installations.models import Workspace


def workspace_for(
    session: Session, org_key: str, *, team_id: str | None = None, enterprise_id: str | None = None
) -> Workspace:
    found = session.execute(
        select(Workspace).where(Workspace.org_key == org_key)
    ).scalar_one_or_none()
    if found is not None:
        return found
    workspace = Workspace(
        org_key=org_key, team_id=team_id, enterprise_id=enterprise_id, active=True
    )
    try:
        with session.begin_nested():
            session.add(workspace)
    except IntegrityError:
        return session.execute(select(Workspace).where(Workspace.org_key == org_key)).scalar_one()
    return workspace


def deactivate_workspace(factory: sessionmaker[Session], org_key: str, *, now: datetime) -> bool:
    """Stop sending to a workspace that uninstalled the app; its money records stay.

    False when it was stopped already (Slack sends ``app_uninstalled`` and ``tokens_revoked``
    in either order)."""
    with transaction(factory) as session:
        done = session.execute(
            update(Workspace)
            .where(Workspace.org_key == org_key, Workspace.active.is_(True))
            .values(active=False, deactivated_at=now)
        )
        return rowcount(done) == 1
