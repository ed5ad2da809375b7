"""Lenders: who may lend, and how they want to hear from us."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.installations.models import Workspace
from storage.installations.workspaces import workspace_for
from storage.ledger.accounts import open_lender_accounts
from storage.lending.models import Lender, NotifyMode


@dataclass(frozen=True)
class SlackIdentity:
    """Who a Slack user is, as every request tells us."""

    user_id: str
    team_id: str | None
    enterprise_id: str | None = None
    display_name: str = ""
    tz: str = "UTC"

    @property
    def org_key(self) -> str:
        # On Enterprise Grid one person is one lender across the organisation's workspaces.
        return self.enterprise_id or self.team_id or "local"


def find_lender(session: Session, identity: SlackIdentity) -> Lender | None:
    return session.execute(
        select(Lender)
        .join(Workspace, Workspace.id == Lender.workspace_id)
        .where(Workspace.org_key == identity.org_key, Lender.slack_user_id == identity.user_id)
    ).scalar_one_or_none()


def ensure_lender(session: Session, identity: SlackIdentity, *, now: datetime) -> Lender:
    """The lender for a Slack user, created with empty accounts on first sight."""
    found = find_lender(session, identity)
    if found is not None:
        # Requests carry only the handle; `microlend people sync` keeps the real name.
        return found
    workspace = workspace_for(
        session, identity.org_key, team_id=identity.team_id, enterprise_id=identity.enterprise_id
    )
    lender = Lender(
        workspace_id=workspace.id,
        slack_user_id=identity.user_id,
        team_id=identity.team_id,
        enterprise_id=identity.enterprise_id,
        display_name=identity.display_name[:200],
        tz=identity.tz or "UTC",
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(lender)
            session.flush()
            open_lender_accounts(session, lender.id)
    except IntegrityError:
        # Another request created this lender a moment ago.
        found = find_lender(session, identity)
        if found is None:
            raise
        return found
    return lender


@dataclass(frozen=True)
class Preferences:
    notify_mode: NotifyMode
    work_start_minute: int
    work_end_minute: int
    work_days: int
    tz: str


def preferences_of(lender: Lender) -> Preferences:
    return Preferences(
        notify_mode=lender.notify_mode,
        work_start_minute=lender.work_start_minute,
        work_end_minute=lender.work_end_minute,
        work_days=lender.work_days,
        tz=lender.tz,
    )


def set_preferences(session: Session, lender_id: int, preferences: Preferences) -> None:
    if not 0 <= preferences.work_start_minute < preferences.work_end_minute <= 24 * 60:
        raise ValueError("Working hours must start before they end, within one day.")
    if not 0 < preferences.work_days < 128:
        raise ValueError("Choose at least one working day.")
    session.execute(
        update(Lender)
        .where(Lender.id == lender_id)
        .values(
            notify_mode=preferences.notify_mode,
            work_start_minute=preferences.work_start_minute,
            work_end_minute=preferences.work_end_minute,
            work_days=preferences.work_days,
            tz=preferences.tz,
        )
    )


def set_autolend(
    session: Session, lender_id: int, *, on: bool, country: str | None, sector: str | None
) -> None:
    """Turn auto-relend on with optional criteria, or off (which forgets the criteria)."""
    session.execute(
        update(Lender)
        .where(Lender.id == lender_id)
        .values(
            autolend=on,
            autolend_country=country if on else None,
            autolend_sector=sector if on else None,
        )
    )
