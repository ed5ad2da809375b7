"""Lending circles: channels whose members lend together, led by the person who opened them.

Every circle belongs to one workspace (or Enterprise Grid organisation) and is found only
through the caller's own organisation, so nobody from another organisation can see or
change it. Who leads: the creator, until they leave; a lead who leaves (after confirming)
hands the circle to the member who joined earliest, who is told, so a circle with members
always has a lead among them. When the last member leaves, the circle closes: it keeps its
history, posts no weekly summary, and the next person to join leads it."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, SQLColumnExpression, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.circles.models import Circle, CircleInvitation, CircleMember
from storage.db.clock import utcnow
from storage.db.engine import rowcount
from storage.db.unit_of_work import Outcome, Refused, run
from storage.installations.models import Workspace
from storage.lending.lenders import SlackIdentity, ensure_lender, find_lender
from storage.lending.models import Lender
from storage.notifications import outbox
from storage.notifications.kinds import Kind
from storage.projects.catalogue import is_open
from storage.projects.references import find_project

NAME_LIMIT = 80

R = TypeVar("R")


@dataclass(frozen=True)
class CircleInfo:
    circle_id: int
    name: str
    channel_id: str
    lead_user_id: str
    goal: int | None
    weekly_summary: bool


@dataclass(frozen=True)
class Membership:
    """The circle after a join; ``changed`` is False when it was already so."""

    circle: CircleInfo
    changed: bool


@dataclass(frozen=True)
class Departure:
    """What leaving did, or, for a lead who has not confirmed yet, would do.

    Flat, so that a confirmed leave replays from its idempotency record as it was.
    """

    circle_id: int
    name: str
    # The leaver is no longer a member (False: they were not one, or must confirm first).
    changed: bool
    was_lead: bool = False
    # Nothing changed: a lead is asked first, since leaving hands their circle on.
    needs_confirmation: bool = False
    # Who leads after the lead leaves; None when nobody remains and the circle closes.
    successor_user_id: str | None = None


@dataclass(frozen=True)
class Invitation:
    circle: CircleInfo
    invitee_user_id: str
    already_member: bool
    already_invited: bool = False


class JoinProof(enum.Enum):
    """Why someone may join: they are in the circle's channel, or they were invited."""

    IN_CHANNEL = "in_channel"
    INVITED = "invited"


@dataclass(frozen=True)
class FeaturedProject:
    circle: CircleInfo
    project_id: int
    reference: str
    borrower: str
    purpose: str
    country: str
    sector: str
    amount: int
    funded: int
    deadline: datetime
    days_left: int


# --- finding circles, always through the caller's organisation --------------------------------


def circles_of(org_key: str) -> Select[Circle]:
    return (
        select(Circle)
        .join(Workspace, Workspace.id == Circle.workspace_id)
        .where(Workspace.org_key == org_key)
    )


def find_circle(
    session: Session, org_key: str, *, channel_id: str | None, circle_id: int | None
) -> Circle:
    query = circles_of(org_key)
    if circle_id is not None:
        query = query.where(Circle.id == circle_id)
    else:
        query = query.where(Circle.channel_id == (channel_id or ""))
    found = session.execute(query).scalar_one_or_none()
    if found is None:
        raise Refused(
            "no_circle",
            "This channel is not a lending circle. Start one here with `/lend circle create NAME`.",
        )
    return found


def circle_info(session: Session, circle: Circle) -> CircleInfo:
    lead = session.execute(
        select(Lender.slack_user_id).where(Lender.id == circle.lead_id)
    ).scalar_one()
    return CircleInfo(
        circle_id=circle.id,
        name=circle.name,
        channel_id=circle.channel_id,
        lead_user_id=lead,
        goal=circle.goal,
        weekly_summary=circle.weekly_summary,
    )


def _require_lead(session: Session, circle: Circle, identity: SlackIdentity, action: str) -> None:
    lender = find_lender(session, identity)
    if lender is None or lender.id != circle.lead_id:
        raise Refused("not_lead", f"Only the circle's lead can {action}. Nothing changed.")


def members_here(circle_id: SQLColumnExpression[int] | int) -> Select[int]:
    """A circle's members who are still with the company: the ones counted. Leavers stay on
    the rolls (their history is the circle's) and count again if they come back."""
    return (
        select(CircleMember.lender_id)
        .join(Lender, Lender.id == CircleMember.lender_id)
        .where(CircleMember.circle_id == circle_id, Lender.deactivated.is_(False))
    )


def _is_member(session: Session, circle_id: int, lender_id: int) -> bool:
    return session.get(CircleMember, (circle_id, lender_id)) is not None


def _run(
    factory: sessionmaker[Session], kind: str, body: Callable[[Session], R], result: type[R]
) -> Outcome[R]:
    # Circle operations move no money and are idempotent by their own checks (a second join
    # is a no-op), so they need no idempotency key; the runner still gives one transaction
    # and a refusal that leaves no trace.
    return run(factory, kind, None, {}, body, result)


# --- operations ---------------------------------------------------------------------------------


def clean_name(name: str) -> str:
    """A circle's name as typed, trimmed; refused when empty or longer than NAME_LIMIT."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise Refused("name_missing", "Give the circle a name: `/lend circle create NAME`.")
    if len(cleaned) > NAME_LIMIT:
        raise Refused(
            "name_too_long",
            f"A circle's name can be at most {NAME_LIMIT} characters; "
            f"that one has {len(cleaned):,}.",
        )
    return cleaned


def create_circle(
    factory: sessionmaker[Session],
    identity: SlackIdentity,
    channel_id: str,
    name: str,
    goal: int | None = None,
    *,
    now: datetime | None = None,
) -> Outcome[CircleInfo]:
    """Make the channel a lending circle led by the caller, who is its first member."""
    moment = now or utcnow()

    def body(session: Session) -> CircleInfo:
        cleaned = clean_name(name)
        if goal is not None and goal <= 0:
            raise Refused("goal_not_positive", "A circle's goal must be a positive amount.")
        lead = ensure_lender(session, identity, now=moment)
        _refuse_if_taken(session, identity.org_key, channel_id)
        circle = Circle(
            workspace_id=lead.workspace_id,
            channel_id=channel_id,
            name=cleaned,
            lead_id=lead.id,
            goal=goal,
            weekly_summary=True,
            created_at=moment,
        )
        try:
            with session.begin_nested():
                session.add(circle)
                session.flush()
        except IntegrityError:
            # Someone made this channel a circle a moment ago.
            _refuse_if_taken(session, identity.org_key, channel_id)
            raise
        session.add(CircleMember(circle_id=circle.id, lender_id=lead.id, joined_at=moment))
        return circle_info(session, circle)

    return _run(factory, "circle_create", body, CircleInfo)


def _refuse_if_taken(session: Session, org_key: str, channel_id: str) -> None:
    taken = session.execute(
        circles_of(org_key).where(Circle.channel_id == channel_id)
    ).scalar_one_or_none()
    if taken is not None:
        raise Refused(
            "circle_exists",
            f"This channel is already the lending circle “{taken.name}”. "
            "Join it with `/lend circle join`.",
        )


def join_circle(
    factory: sessionmaker[Session],
    identity: SlackIdentity,
    *,
    channel_id: str | None = None,
    circle_id: int | None = None,
    proof: JoinProof = JoinProof.IN_CHANNEL,
    now: datetime | None = None,
) -> Outcome[Membership]:
    """Join the circle of a channel (or, from a button, by id); joining twice is a no-op.

    The caller shows the person is in the circle's channel (the channel a command or a click
    came from, or Slack's member list), or else an invitation must be on record: a forged
    Join button must not open a circle, let alone a private channel's, to anyone.
    """
    moment = now or utcnow()

    def body(session: Session) -> Membership:
        circle = find_circle(session, identity.org_key, channel_id=channel_id, circle_id=circle_id)
        lender = ensure_lender(session, identity, now=moment)
        if _is_member(session, circle.id, lender.id):
            return Membership(circle_info(session, circle), changed=False)
        if (
            proof is JoinProof.INVITED
            and session.get(CircleInvitation, (circle.id, lender.id)) is None
        ):
            raise Refused(
                "not_invited",
                "Only people in the circle's channel, or invited by a member, can join it. "
                "Ask a member to invite you with `/lend circle invite`.",
            )
        try:
            with session.begin_nested():
                session.add(
                    CircleMember(circle_id=circle.id, lender_id=lender.id, joined_at=moment)
                )
        except IntegrityError:
            # A double click: the first one joined.
            return Membership(circle_info(session, circle), changed=False)
        if not _is_member(session, circle.id, circle.lead_id):
            # The circle had emptied out; whoever joins first leads it again.
            circle.lead_id = lender.id
            session.flush()
        return Membership(circle_info(session, circle), changed=True)

    return _run(factory, "circle_join", body, Membership)


def leave_circle(
    factory: sessionmaker[Session],
    identity: SlackIdentity,
    *,
    channel_id: str | None = None,
    circle_id: int | None = None,
    confirmation: str | None = None,
    successor_shown: str | None = None,
    now: datetime | None = None,
) -> Outcome[Departure]:
    """Leave a circle (by its channel, or by id from a button).

    A lead leaves only with a ``confirmation`` (the intent of their Confirm button, which keys
    the operation, so a double click or a replay acts once), and only if the next lead is
    still the one that confirmation named (``successor_shown``, None: the circle closes);
    without one nothing changes and the result says who would lead next. The new lead is told
    by DM through the outbox.
    """
    moment = now or utcnow()

    def body(session: Session) -> Departure:
        circle = find_circle(session, identity.org_key, channel_id=channel_id, circle_id=circle_id)
        lender = find_lender(session, identity)
        member = None if lender is None else session.get(CircleMember, (circle.id, lender.id))
        if member is None:
            return Departure(circle.id, circle.name, changed=False)
        leads = circle.lead_id == member.lender_id
        if leads and confirmation is None:
            successor = _successor(session, circle.id, other_than=member.lender_id)
            return Departure(
                circle.id,
                circle.name,
                changed=False,
                was_lead=True,
                needs_confirmation=True,
                successor_user_id=_user_id(session, successor),
            )
        if not _remove(session, member):
            # A concurrent leave (another confirmation) removed them first.
            return Departure(circle.id, circle.name, changed=False)
        successor = _successor(session, circle.id, other_than=member.lender_id) if leads else None
        if leads and _user_id(session, successor) != successor_shown:
            raise Refused(
                "circle_changed",
                "The circle changed since you were asked: someone else would lead it now. "
                "Run `/lend circle leave` again to see who.",
            )
        if successor is not None:
            # One handover per membership that ended: named by when it began.
            tenure = (member.lender_id, member.joined_at)
            _hand_over(session, circle, successor, tenure, identity.user_id, moment)
        return Departure(
            circle.id,
            circle.name,
            changed=True,
            was_lead=leads,
            successor_user_id=_user_id(session, successor),
        )

    key = None
    if confirmation is not None:
        key = f"circle_leave:{identity.org_key}:{identity.user_id}:{confirmation}"
    params = {"channel": channel_id, "circle": circle_id, "successor": successor_shown}
    return run(factory, "circle_leave", key, params, body, Departure)


def _successor(session: Session, circle_id: int, *, other_than: int) -> int | None:
    """The longest-standing member still with the company, other than ``other_than``."""
    return session.execute(
        select(CircleMember.lender_id)
        .join(Lender, Lender.id == CircleMember.lender_id)
        .where(
            CircleMember.circle_id == circle_id,
            CircleMember.lender_id != other_than,
            Lender.deactivated.is_(False),
        )
        .order_by(CircleMember.joined_at, CircleMember.lender_id)
        .limit(1)
    ).scalar_one_or_none()


def pass_on_circles_of(session: Session, leaver_id: int, *, now: datetime) -> int:
    """Every circle someone who left the company leads passes to its longest-standing member,
    who is told; the leaver stays on its rolls (history), uncounted while away. A circle with
    no one else left keeps its lead, who finds it again if they come back."""
    former_user_id = _user_id(session, leaver_id) or ""
    led = session.execute(select(Circle).where(Circle.lead_id == leaver_id)).scalars().all()
    passed = 0
    for circle in led:
        successor = _successor(session, circle.id, other_than=leaver_id)
        if successor is not None:
            # One handover per leaving, named by when it was settled.
            tenure = (leaver_id, now)
            _hand_over(session, circle, successor, tenure, former_user_id, now, left_company=True)
            passed += 1
    return passed


def _user_id(session: Session, lender_id: int | None) -> str | None:
    if lender_id is None:
        return None
    return session.execute(select(Lender.slack_user_id).where(Lender.id == lender_id)).scalar_one()


def _remove(session: Session, member: CircleMember) -> bool:
    """Whether this transaction removed the membership (not a concurrent one before it)."""
    removed = session.execute(
        delete(CircleMember).where(
            CircleMember.circle_id == member.circle_id, CircleMember.lender_id == member.lender_id
        )
    )
    return rowcount(removed) == 1


def _hand_over(
    session: Session,
    circle: Circle,
    successor: int,
    tenure: tuple[int, datetime],
    former_user_id: str,
    now: datetime,
    *,
    left_company: bool = False,
) -> None:
    """The earliest remaining member leads now, and hears so in their working hours.
    ``tenure`` (the former lead, a moment of theirs) keys the message: one per handover."""
    circle.lead_id = successor
    session.flush()
    former_id, moment = tenure
    outbox.enqueue(
        session,
        dedupe_key=f"new_lead:{circle.id}:{former_id}:{moment.isoformat()}",
        kind=Kind.NEW_LEAD,
        payload={
            "former_lead": former_user_id,
            "channel": circle.channel_id,
            "left_company": left_company,
        },
        now=now,
        lender_id=successor,
        workspace_id=circle.workspace_id,
        circle_id=circle.id,
    )


def invite_to_circle(
    factory: sessionmaker[Session],
    identity: SlackIdentity,
    channel_id: str,
    invitee_user_id: str,
    *,
    now: datetime | None = None,
) -> Outcome[Invitation]:
    """A member invites someone of their organisation: recorded, and told once by DM through
    the outbox (in their working hours); inviting again tells nobody twice."""
    moment = now or utcnow()

    def body(session: Session) -> Invitation:
        circle = find_circle(session, identity.org_key, channel_id=channel_id, circle_id=None)
        inviter = find_lender(session, identity)
        if inviter is None or not _is_member(session, circle.id, inviter.id):
            raise Refused(
                "not_a_member", "Join the circle first (`/lend circle join`), then invite others."
            )
        invitee = ensure_lender(session, _colleague(identity, invitee_user_id), now=moment)
        info = circle_info(session, circle)
        if _is_member(session, circle.id, invitee.id):
            return Invitation(info, invitee_user_id, already_member=True)
        already = session.get(CircleInvitation, (circle.id, invitee.id)) is not None
        if not already:
            session.add(
                CircleInvitation(
                    circle_id=circle.id,
                    invitee_id=invitee.id,
                    inviter_id=inviter.id,
                    invited_at=moment,
                )
            )
            outbox.enqueue(
                session,
                dedupe_key=f"invite:{circle.id}:{invitee.id}",
                kind=Kind.INVITE,
                payload={"inviter": identity.user_id},
                now=moment,
                lender_id=invitee.id,
                workspace_id=circle.workspace_id,
                circle_id=circle.id,
            )
        return Invitation(info, invitee_user_id, already_member=False, already_invited=already)

    return _run(factory, "circle_invite", body, Invitation)


def _colleague(identity: SlackIdentity, user_id: str) -> SlackIdentity:
    # A mention in a command names someone in the caller's own organisation.
    return SlackIdentity(user_id, identity.team_id, identity.enterprise_id)


def feature_project(
    factory: sessionmaker[Session],
    identity: SlackIdentity,
    channel_id: str,
    ref: str,
    *,
    now: datetime | None = None,
) -> Outcome[FeaturedProject]:
    """The lead shows an open project to the circle."""
    moment = now or utcnow()

    def body(session: Session) -> FeaturedProject:
        circle = find_circle(session, identity.org_key, channel_id=channel_id, circle_id=None)
        _require_lead(session, circle, identity, "feature a project")
        project = find_project(session, ref)
        if not is_open(project, moment):
            raise Refused(
                "project_closed",
                f"{project.reference} is no longer raising money; feature an open project.",
            )
        return FeaturedProject(
            circle=circle_info(session, circle),
            project_id=project.id,
            reference=project.reference,
            borrower=project.borrower,
            purpose=project.purpose,
            country=project.country,
            sector=project.sector,
            amount=project.amount,
            funded=project.funded,
            deadline=project.deadline,
            days_left=project.days_left(moment),
        )

    return _run(factory, "circle_feature", body, FeaturedProject)


def set_weekly_summary(
    factory: sessionmaker[Session], identity: SlackIdentity, channel_id: str, enabled: bool
) -> Outcome[CircleInfo]:
    """The lead turns the circle's weekly summary in the channel on or off."""

    def body(session: Session) -> CircleInfo:
        circle = find_circle(session, identity.org_key, channel_id=channel_id, circle_id=None)
        _require_lead(session, circle, identity, "change the weekly summary")
        circle.weekly_summary = enabled
        session.flush()
        return circle_info(session, circle)

    return _run(factory, "circle_summary", body, CircleInfo)


# --- queries ------------------------------------------------------------------------------------


def circle_in_channel(
    factory: sessionmaker[Session], org_key: str, channel_id: str
) -> CircleInfo | None:
    with factory() as session:
        circle = session.execute(
            circles_of(org_key).where(Circle.channel_id == channel_id)
        ).scalar_one_or_none()
        return None if circle is None else circle_info(session, circle)


def circle_by_id(factory: sessionmaker[Session], org_key: str, circle_id: int) -> CircleInfo | None:
    """A circle of the caller's organisation by id (a button names it so), or None."""
    with factory() as session:
        circle = session.execute(
            circles_of(org_key).where(Circle.id == circle_id)
        ).scalar_one_or_none()
        return None if circle is None else circle_info(session, circle)
