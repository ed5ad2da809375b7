"""Lenders: who may lend, and how they want to hear from us."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.unit_of_work import Outcome, Refused, run, transaction
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


# Whom an operation is for: a lender known by id (jobs, the CLI), or the Slack user a request
# came from, made a lender inside the operation's own transaction on first sight.
LenderRef = int | SlackIdentity


def lender_id_of(session: Session, lender: LenderRef, *, now: datetime) -> int:
    if isinstance(lender, SlackIdentity):
        return ensure_lender(session, lender, now=now).id
    return lender


def known_lender_id(session: Session, lender: LenderRef) -> int | None:
    """The lender's id if they exist; a read never creates anyone."""
    if isinstance(lender, SlackIdentity):
        found = find_lender(session, lender)
        return None if found is None else found.id
    return lender


def refuse_a_leaver(session: Session, lender_id: int | None, refusal: str) -> None:
    """No new money in the name of someone who left the company (their Slack account is
    deactivated): ``refusal`` says what was not done."""
    if lender_id is None:
        return
    left = session.execute(select(Lender.deactivated).where(Lender.id == lender_id)).scalar_one()
    if left:
        raise Refused("left_company", refusal)


def meet_lender(factory: sessionmaker[Session], identity: SlackIdentity, *, now: datetime) -> int:
    """The lender for someone who just spoke to the app: read, and written only the first time."""
    with factory() as session:
        found = find_lender(session, identity)
    if found is not None:
        return found.id
    with transaction(factory) as session:
        return ensure_lender(session, identity, now=now).id


def lender_param(lender: LenderRef) -> int | str:
    """How an idempotency fingerprint names the lender, before the lender is looked up."""
    if isinstance(lender, SlackIdentity):
        return f"{lender.org_key}:{lender.user_id}"
    return lender


@dataclass(frozen=True)
class Preferences:
    notify_mode: NotifyMode
    work_start_minute: int
    work_end_minute: int
    work_days: int
    tz: str


DEFAULT_PREFERENCES = Preferences(NotifyMode.AS_IT_HAPPENS, 9 * 60, 18 * 60, 0b0011111, "UTC")


def preferences_of(lender: Lender) -> Preferences:
    return Preferences(
        notify_mode=lender.notify_mode,
        work_start_minute=lender.work_start_minute,
        work_end_minute=lender.work_end_minute,
        work_days=lender.work_days,
        tz=lender.tz,
    )


def preferences_for(session: Session, lender: LenderRef) -> Preferences:
    """A lender's preferences; someone new has the defaults (and is not created by asking)."""
    lender_id = known_lender_id(session, lender)
    found = None if lender_id is None else session.get(Lender, lender_id)
    return DEFAULT_PREFERENCES if found is None else preferences_of(found)


def choose_preferences(
    factory: sessionmaker[Session],
    lender: LenderRef,
    *,
    notify_mode: NotifyMode,
    work_start_minute: int,
    work_end_minute: int,
    work_days: int,
    now: datetime | None = None,
) -> Outcome[Preferences]:
    """How often and when a lender hears from us; refused when the hours make no sense."""

    def body(session: Session) -> Preferences:
        if not 0 <= work_start_minute < work_end_minute <= 24 * 60:
            raise Refused(
                "working_hours", "Working hours must start before they end, within one day."
            )
        if not 0 < work_days < 128:
            raise Refused("working_days", "Choose at least one working day.")
        lender_id = lender_id_of(session, lender, now=now or utcnow())
        session.execute(
            update(Lender)
            .where(Lender.id == lender_id)
            .values(
                notify_mode=notify_mode,
                work_start_minute=work_start_minute,
                work_end_minute=work_end_minute,
                work_days=work_days,
            )
        )
        return preferences_of(session.get_one(Lender, lender_id, populate_existing=True))

    return run(factory, "preferences", None, {}, body, Preferences)


@dataclass(frozen=True)
class AutolendChoice:
    on: bool
    country: str | None
    sector: str | None


def choose_autolend(
    factory: sessionmaker[Session],
    lender: LenderRef,
    *,
    on: bool,
    country: str | None,
    sector: str | None,
    now: datetime | None = None,
) -> Outcome[AutolendChoice]:
    """Turn auto-relend on with optional criteria, or off (which forgets the criteria)."""

    def body(session: Session) -> AutolendChoice:
        choice = AutolendChoice(on, country if on else None, sector if on else None)
        session.execute(
            update(Lender)
            .where(Lender.id == lender_id_of(session, lender, now=now or utcnow()))
            .values(
                autolend=choice.on,
                autolend_country=choice.country,
                autolend_sector=choice.sector,
            )
        )
        return choice

    return run(factory, "autolend_choice", None, {}, body, AutolendChoice)
