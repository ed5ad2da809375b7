"""What a lender or a circle is told, and when.

When: a DM waits for the lender's working hours in their own time zone, and a lender on a daily
or weekly digest hears about a period only after it ends (at the next opening of their working
hours). The time is derived from each row's ``created_at``, so every row of one lender and one
period comes due at the same moment and the worker folds them into one message.

What: the facts of a batch of claimed rows, loaded with a fixed number of set-based queries
(never one per row), as plain frozen dataclasses for the templates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from storage.models import (
    Account,
    AccountKind,
    Circle,
    ImpactUpdate,
    LedgerTransaction,
    Lender,
    NotifyMode,
    Pledge,
    Posting,
    Project,
    ProjectStatus,
    Workspace,
)
from storage.outbox_queue import Claimed

SIMILAR_PROJECTS = 3
_DIGEST_MODES = (NotifyMode.DAILY, NotifyMode.WEEKLY)


# -- when --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    lender_id: int
    slack_user_id: str
    workspace_active: bool
    notify_mode: NotifyMode
    tz: str
    work_start_minute: int
    work_end_minute: int
    work_days: int


def load_recipients(session: Session, lender_ids: Iterable[int]) -> dict[int, Recipient]:
    rows = session.execute(
        select(
            Lender.id,
            Lender.slack_user_id,
            Workspace.active,
            Lender.notify_mode,
            Lender.tz,
            Lender.work_start_minute,
            Lender.work_end_minute,
            Lender.work_days,
        )
        .join(Workspace, Workspace.id == Lender.workspace_id)
        .where(Lender.id.in_(set(lender_ids)))
    ).all()
    return {row[0]: Recipient(*row) for row in rows}


def inactive_workspaces(session: Session, workspace_ids: Iterable[int]) -> set[int]:
    query = select(Workspace.id).where(
        Workspace.id.in_(set(workspace_ids)), Workspace.active.is_(False)
    )
    return set(session.execute(query).scalars())


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Slack's zone names are IANA names; anything else is better served in UTC than lost.
        return UTC


def _is_working(moment: datetime, recipient: Recipient) -> bool:
    minute = moment.hour * 60 + moment.minute
    works_today = (recipient.work_days >> moment.weekday()) & 1
    return bool(works_today) and recipient.work_start_minute <= minute < recipient.work_end_minute


def _next_opening(moment: datetime, recipient: Recipient) -> datetime:
    """``moment`` if it is inside working hours, else the next start of them (local time)."""
    if _is_working(moment, recipient):
        return moment
    start = time(recipient.work_start_minute // 60, recipient.work_start_minute % 60)
    for offset in range(8):
        day = moment.date() + timedelta(days=offset)
        opening = datetime.combine(day, start, tzinfo=moment.tzinfo)
        if (recipient.work_days >> day.weekday()) & 1 and opening >= moment:
            return opening
    # No working day at all: the preference cannot be honoured, so do not hold messages forever.
    return moment


def _period_end(created: datetime, mode: NotifyMode) -> datetime:
    """The first local midnight after the day (daily) or ISO week (weekly) of ``created``."""
    days = 1 if mode == NotifyMode.DAILY else 7 - created.weekday()
    midnight = datetime.combine(created.date() + timedelta(days=days), time(), created.tzinfo)
    return midnight


def delivery_time(recipient: Recipient, created_at: datetime, now: datetime) -> datetime:
    """When a DM created at ``created_at`` may be sent (naive UTC); ``<= now`` means now."""
    zone = _zone(recipient.tz)
    earliest = now.replace(tzinfo=UTC).astimezone(zone)
    if recipient.notify_mode in _DIGEST_MODES:
        created = created_at.replace(tzinfo=UTC).astimezone(zone)
        earliest = max(earliest, _period_end(created, recipient.notify_mode))
    opening = _next_opening(earliest, recipient)
    return opening.astimezone(UTC).replace(tzinfo=None)


# -- what: lenders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectFacts:
    id: int
    reference: str
    borrower: str
    country: str
    purpose: str
    sector: str
    amount: int
    funded: int
    default_reason: str | None

    @property
    def still_needed(self) -> int:
        return self.amount - self.funded


@dataclass(frozen=True)
class Stake:
    """A lender's part in one project, and what this message says about it."""

    project: ProjectFacts
    lent: int
    repaid: int
    # What came back in the repayments this message reports (repayment messages only).
    received: int = 0
    similar: tuple[ProjectFacts, ...] = ()
    impact_text: str = ""

    @property
    def lost(self) -> int:
        return self.lent - self.repaid


@dataclass(frozen=True)
class LenderNews:
    """Everything waiting for one lender, folded into one message."""

    available: int
    repayments: tuple[Stake, ...] = ()
    funded: tuple[Stake, ...] = ()
    expired: tuple[Stake, ...] = ()
    defaulted: tuple[Stake, ...] = ()
    delinquent: tuple[Stake, ...] = ()
    impacts: tuple[Stake, ...] = ()
    autolends: tuple[Stake, ...] = ()
    invites: tuple[str, ...] = ()
    idle_reminder: bool = False

    @property
    def received(self) -> int:
        return sum(stake.received for stake in self.repayments)

    @property
    def refunded(self) -> int:
        return sum(stake.lent for stake in self.expired)

    @property
    def lost(self) -> int:
        return sum(stake.lost for stake in self.defaulted)


# Row kinds about one project, and the LenderNews field that lists them.
PROJECT_KINDS = {
    "funded": "funded",
    "expired": "expired",
    "defaulted": "defaulted",
    "delinquent": "delinquent",
    "impact": "impacts",
    "autolend": "autolends",
}


@dataclass
class _Pieces:
    lists: dict[str, list[Stake]] = field(default_factory=lambda: defaultdict(list))
    invites: list[str] = field(default_factory=list)
    idle: bool = False


def lender_news(
    session: Session, rows: Sequence[Claimed], *, now: datetime
) -> dict[int, LenderNews]:
    """The news of every lender with rows in the batch, keyed by lender id."""
    lender_ids = {row.lender_id for row in rows if row.lender_id is not None}
    repayment_pairs = {
        (row.lender_id, int(row.payload["transaction_id"]))
        for row in rows
        if row.kind == "repayment" and row.lender_id is not None
    }
    project_pairs = {
        (row.lender_id, row.project_id)
        for row in rows
        if row.kind in PROJECT_KINDS and row.lender_id is not None and row.project_id is not None
    }
    received = _received(session, repayment_pairs)
    stakes = _stakes(session, project_pairs | set(received))
    projects = _projects(session, {project for _, project in stakes})
    expired = {row.project_id for row in rows if row.kind == "expired" and row.project_id}
    similar = {p: _similar(session, projects[p], now) for p in expired if p in projects}
    impacts = _impacts(session, [row for row in rows if row.kind == "impact"])
    circles = _circle_names(session, {row.circle_id for row in rows if row.kind == "invite"})

    pieces: dict[int, _Pieces] = defaultdict(_Pieces)
    for (lender, project), amount in sorted(received.items()):
        lent, repaid = stakes[(lender, project)]
        pieces[lender].lists["repayments"].append(
            Stake(projects[project], lent, repaid, received=amount)
        )
    for row in rows:
        if row.lender_id is None:
            continue
        piece = pieces[row.lender_id]
        if row.kind in PROJECT_KINDS and row.project_id in projects:
            lent, repaid = stakes.get((row.lender_id, row.project_id), (0, 0))
            piece.lists[PROJECT_KINDS[row.kind]].append(
                Stake(
                    projects[row.project_id],
                    lent,
                    repaid,
                    similar=tuple(similar.get(row.project_id, ())),
                    impact_text=impacts.get(row.id, ""),
                )
            )
        elif row.kind == "invite" and row.circle_id in circles:
            piece.invites.append(circles[row.circle_id])
        elif row.kind == "idle_credit":
            piece.idle = True
    available = _available(session, lender_ids)
    return {
        lender: _news(available.get(lender, 0), pieces[lender]) for lender in sorted(lender_ids)
    }


def _news(available: int, pieces: _Pieces) -> LenderNews:
    lists = {name: tuple(stakes) for name, stakes in pieces.lists.items()}
    return LenderNews(
        available=available,
        invites=tuple(pieces.invites),
        idle_reminder=pieces.idle,
        **lists,  # type: ignore[arg-type]
    )


def _chunks(items: Iterable[Any], size: int = 500) -> Iterable[list[Any]]:
    batch = list(items)
    for start in range(0, len(batch), size):
        yield batch[start : start + size]


def _received(session: Session, pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """(lender, project) -> cents paid into the lender's credit by the given transactions.

    Starts from the lenders' accounts: a round's transaction has a million postings, a
    lender's account a handful.
    """
    received: dict[tuple[int, int], int] = {}
    for chunk in _chunks(pairs):
        rows = session.execute(
            select(Account.lender_id, Pledge.project_id, func.sum(Posting.amount))
            .select_from(Account)
            .join(Posting, Posting.account_id == Account.id)
            .join(Pledge, Pledge.id == Posting.pledge_id)
            .where(
                Account.lender_id.in_({lender for lender, _ in chunk}),
                Account.kind == AccountKind.AVAILABLE,
                # "+ 0" keeps the planner off the transaction index: a round's transaction
                # has a million postings, and stale statistics make that index look cheap.
                tuple_(Account.lender_id, Posting.transaction_id + 0).in_(chunk),
                Posting.amount > 0,
            )
            .group_by(Account.lender_id, Pledge.project_id)
        ).all()
        received.update({(lender, project): int(total) for lender, project, total in rows})
    return received


def _stakes(
    session: Session, pairs: set[tuple[int, int]]
) -> dict[tuple[int, int], tuple[int, int]]:
    """(lender, project) -> (lent, repaid so far) over all the lender's pledges to it."""
    stakes: dict[tuple[int, int], tuple[int, int]] = {}
    for chunk in _chunks(pairs):
        rows = session.execute(
            select(
                Pledge.lender_id,
                Pledge.project_id,
                func.sum(Pledge.amount),
                func.sum(Pledge.repaid),
            )
            .where(
                Pledge.lender_id.in_({lender for lender, _ in chunk}),
                tuple_(Pledge.lender_id, Pledge.project_id).in_(chunk),
            )
            .group_by(Pledge.lender_id, Pledge.project_id)
        ).all()
        stakes.update(
            {(lender, project): (int(lent), int(repaid)) for lender, project, lent, repaid in rows}
        )
    return stakes


_PROJECT_COLUMNS = (
    Project.id,
    Project.reference,
    Project.borrower,
    Project.country,
    Project.purpose,
    Project.sector,
    Project.amount,
    Project.funded,
    Project.default_reason,
)


def _projects(session: Session, ids: set[int]) -> dict[int, ProjectFacts]:
    facts: dict[int, ProjectFacts] = {}
    for chunk in _chunks(ids):
        rows = session.execute(select(*_PROJECT_COLUMNS).where(Project.id.in_(chunk))).all()
        facts.update({row[0]: ProjectFacts(*row) for row in rows})
    return facts


def _similar(session: Session, project: ProjectFacts, now: datetime) -> list[ProjectFacts]:
    """Open projects like an expired one: same sector or country, the same country first."""
    same_country = Project.country == project.country
    rows = session.execute(
        select(*_PROJECT_COLUMNS)
        .where(
            Project.status == ProjectStatus.FUNDRAISING,
            Project.deadline > now,
            Project.funded < Project.amount,
            Project.id != project.id,
            or_(Project.sector == project.sector, same_country),
        )
        .order_by(same_country.desc(), Project.deadline, Project.id)
        .limit(SIMILAR_PROJECTS)
    ).all()
    return [ProjectFacts(*row) for row in rows]


def _impacts(session: Session, rows: Sequence[Claimed]) -> dict[int, str]:
    """Row id -> the update's text: the one the payload names, else the project's latest."""
    named = {
        row.id: int(row.payload["impact_update_id"])
        for row in rows
        if "impact_update_id" in row.payload
    }
    latest = (
        select(ImpactUpdate.project_id, func.max(ImpactUpdate.id).label("id"))
        .where(ImpactUpdate.project_id.in_({row.project_id for row in rows}))
        .group_by(ImpactUpdate.project_id)
    )
    by_project = dict(session.execute(latest).all()) if rows else {}
    wanted = {row.id: named.get(row.id, by_project.get(row.project_id)) for row in rows}
    texts = (
        dict(
            session.execute(
                select(ImpactUpdate.id, ImpactUpdate.text).where(
                    ImpactUpdate.id.in_({update for update in wanted.values() if update})
                )
            ).all()
        )
        if rows
        else {}
    )
    return {row_id: texts.get(update, "") for row_id, update in wanted.items() if update}


def _circle_names(session: Session, circle_ids: set[int | None]) -> dict[int, str]:
    ids = {circle for circle in circle_ids if circle is not None}
    if not ids:
        return {}
    rows = session.execute(select(Circle.id, Circle.name).where(Circle.id.in_(ids))).all()
    return dict(rows)


def _available(session: Session, lender_ids: set[int]) -> dict[int, int]:
    available: dict[int, int] = {}
    for chunk in _chunks(lender_ids):
        rows = session.execute(
            select(Account.lender_id, Account.balance).where(
                Account.lender_id.in_(chunk), Account.kind == AccountKind.AVAILABLE
            )
        ).all()
        available.update({lender: balance for lender, balance in rows if lender is not None})
    return available


# -- what: circles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CircleWeek:
    start: date
    lent: int
    pledges: int
    projects_funded: int
    repaid: int


@dataclass(frozen=True)
class CirclePost:
    kind: str
    circle_name: str
    goal: int | None
    total_lent: int
    project: ProjectFacts | None = None
    # What the circle lent to ``project`` (its members' pledges made for the circle).
    circle_lent: int = 0
    circle_repaid: int = 0
    pledge_amount: int = 0
    pledger_user_id: str | None = None
    week: CircleWeek | None = None


def circle_posts(session: Session, rows: Sequence[Claimed]) -> dict[int, CirclePost]:
    """Row id -> the facts of each circle channel post in the batch."""
    circle_ids = {row.circle_id for row in rows if row.circle_id is not None}
    circles = {
        circle_id: (name, goal)
        for circle_id, name, goal in session.execute(
            select(Circle.id, Circle.name, Circle.goal).where(Circle.id.in_(circle_ids))
        ).all()
    }
    totals = _circle_totals(session, circle_ids)
    by_project = _circle_stakes(
        session, {(row.circle_id, row.project_id) for row in rows if row.project_id is not None}
    )
    projects = _projects(session, {row.project_id for row in rows if row.project_id is not None})
    pledges = _pledges(session, [row.payload.get("pledge_id") for row in rows])
    weeks = _circle_weeks(session, [row for row in rows if row.kind == "circle_summary"])
    posts: dict[int, CirclePost] = {}
    for row in rows:
        if row.circle_id not in circles:
            continue
        name, goal = circles[row.circle_id]
        lent, repaid = by_project.get((row.circle_id, row.project_id), (0, 0))
        amount, user = pledges.get(row.payload.get("pledge_id"), (0, None))
        posts[row.id] = CirclePost(
            kind=row.kind,
            circle_name=name,
            goal=goal,
            total_lent=totals.get(row.circle_id, 0),
            project=projects.get(row.project_id) if row.project_id else None,
            circle_lent=lent,
            circle_repaid=repaid,
            pledge_amount=amount,
            pledger_user_id=user,
            week=weeks.get(row.id),
        )
    return posts


def _circle_totals(session: Session, circle_ids: set[int]) -> dict[int, int]:
    rows = session.execute(
        select(Pledge.circle_id, func.sum(Pledge.amount))
        .where(Pledge.circle_id.in_(circle_ids), Pledge.refunded.is_(False))
        .group_by(Pledge.circle_id)
    ).all()
    return {circle: int(total) for circle, total in rows if circle is not None}


def _circle_stakes(
    session: Session, pairs: set[tuple[int | None, int]]
) -> dict[tuple[int, int], tuple[int, int]]:
    wanted = [(circle, project) for circle, project in pairs if circle is not None]
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Pledge.circle_id, Pledge.project_id, func.sum(Pledge.amount), func.sum(Pledge.repaid)
        )
        .where(tuple_(Pledge.circle_id, Pledge.project_id).in_(wanted))
        .group_by(Pledge.circle_id, Pledge.project_id)
    ).all()
    return {
        (circle, project): (int(lent), int(repaid))
        for circle, project, lent, repaid in rows
        if circle
    }


def _pledges(session: Session, ids: list[Any]) -> dict[int, tuple[int, str]]:
    wanted = {int(pledge_id) for pledge_id in ids if pledge_id is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(Pledge.id, Pledge.amount, Lender.slack_user_id)
        .join(Lender, Lender.id == Pledge.lender_id)
        .where(Pledge.id.in_(wanted))
    ).all()
    return {pledge_id: (amount, user) for pledge_id, amount, user in rows}


def _circle_weeks(session: Session, rows: Sequence[Claimed]) -> dict[int, CircleWeek]:
    """Row id -> its circle's week (the payload's ``week_start``), one query per distinct week."""
    weeks: dict[int, CircleWeek] = {}
    by_week: dict[date, list[Claimed]] = defaultdict(list)
    for row in rows:
        by_week[date.fromisoformat(str(row.payload["week_start"]))].append(row)
    for start, members in by_week.items():
        stats = circle_week_stats(
            session, {row.circle_id for row in members if row.circle_id}, start
        )
        weeks.update({row.id: stats[row.circle_id] for row in members if row.circle_id in stats})
    return weeks


def circle_week_stats(session: Session, circle_ids: set[int], start: date) -> dict[int, CircleWeek]:
    """Lent, pledges, projects funded and repayments received by each circle in one week."""
    begin = datetime.combine(start, time())
    end = begin + timedelta(days=7)
    in_week = and_(Pledge.created_at >= begin, Pledge.created_at < end)
    lent = session.execute(
        select(Pledge.circle_id, func.sum(Pledge.amount), func.count())
        .where(Pledge.circle_id.in_(circle_ids), in_week)
        .group_by(Pledge.circle_id)
    ).all()
    funded = session.execute(
        select(Pledge.circle_id, func.count(Project.id.distinct()))
        .join(Project, Project.id == Pledge.project_id)
        .where(
            Pledge.circle_id.in_(circle_ids), Project.funded_at >= begin, Project.funded_at < end
        )
        .group_by(Pledge.circle_id)
    ).all()
    repaid = session.execute(
        select(Pledge.circle_id, func.sum(Posting.amount))
        .join(Posting, Posting.pledge_id == Pledge.id)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .join(Account, Account.id == Posting.account_id)
        .where(
            Pledge.circle_id.in_(circle_ids),
            LedgerTransaction.kind == "repayment",
            LedgerTransaction.created_at >= begin,
            LedgerTransaction.created_at < end,
            Account.kind == AccountKind.AVAILABLE,
        )
        .group_by(Pledge.circle_id)
    ).all()
    lent_by = {circle: (int(total), count) for circle, total, count in lent}
    funded_by = dict(funded)
    repaid_by = {circle: int(total) for circle, total in repaid}
    return {
        circle: CircleWeek(
            start=start,
            lent=lent_by.get(circle, (0, 0))[0],
            pledges=lent_by.get(circle, (0, 0))[1],
            projects_funded=funded_by.get(circle, 0),
            repaid=repaid_by.get(circle, 0),
        )
        for circle in circle_ids
    }
