"""What a lender or a circle is told: the facts of a batch of claimed outbox rows.

They are loaded with a fixed number of set-based queries (never one per row), as plain
frozen dataclasses for the templates."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from storage.circles.models import Circle
from storage.circles.statistics import CircleWeek, circle_totals, circle_week_stats
from storage.ledger.models import Account, AccountKind, Posting
from storage.lending.models import Lender, Pledge
from storage.notifications.delivery_queue import Claimed
from storage.notifications.kinds import Audience, Kind
from storage.projects.models import ImpactUpdate, Project, ProjectStatus

SIMILAR_PROJECTS = 3


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
    # As the message is delivered, not as it was queued: a post must not offer a Lend button
    # for a project that filled or closed in between.
    status: ProjectStatus = ProjectStatus.FUNDRAISING

    @property
    def still_needed(self) -> int:
        return self.amount - self.funded

    @property
    def raising(self) -> bool:
        """Whether the project still takes pledges."""
        return self.status == ProjectStatus.FUNDRAISING and self.funded < self.amount


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
class Invite:
    """A circle someone invited the lender to, with the Join button's circle id."""

    circle_id: int
    circle_name: str
    inviter_user_id: str


@dataclass(frozen=True)
class NewLead:
    """A circle the lender leads now that its lead left it to them."""

    circle_name: str
    channel_id: str
    former_lead_user_id: str
    # The former lead left the company, not only the circle.
    left_company: bool = False


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
    invites: tuple[Invite, ...] = ()
    leads: tuple[NewLead, ...] = ()
    idle_reminder: bool = False
    # Company credit given to the lender (welcome, matching), in cents, one per grant.
    grants: tuple[int, ...] = ()

    @property
    def received(self) -> int:
        return sum(stake.received for stake in self.repayments)

    @property
    def granted(self) -> int:
        return sum(self.grants)

    @property
    def refunded(self) -> int:
        return sum(stake.lent for stake in self.expired)

    @property
    def lost(self) -> int:
        return sum(stake.lost for stake in self.defaulted)


# Row kinds about one project, and the LenderNews field that lists them.
PROJECT_KINDS = {
    Kind.FUNDED: "funded",
    Kind.EXPIRED: "expired",
    Kind.DEFAULTED: "defaulted",
    Kind.DELINQUENT: "delinquent",
    Kind.IMPACT: "impacts",
    Kind.AUTOLEND: "autolends",
}
# A lender's news about a circle, whose name is loaded for it.
CIRCLE_NEWS = (Kind.INVITE, Kind.NEW_LEAD)
# Every kind a loader here reads the facts of: lender news, channel posts, operator alerts.
LOADED_KINDS = frozenset(
    {*PROJECT_KINDS, Kind.REPAYMENT, Kind.INVITE, Kind.NEW_LEAD, Kind.IDLE_CREDIT, Kind.GRANT}
    | {Kind.RECONCILIATION}
    | {kind for kind in Kind if kind.audience is Audience.CHANNEL}
)


@dataclass
class _Pieces:
    lists: dict[str, list[Stake]] = field(default_factory=lambda: defaultdict(list))
    invites: list[Invite] = field(default_factory=list)
    leads: list[NewLead] = field(default_factory=list)
    idle: bool = False
    grants: list[int] = field(default_factory=list)


def lender_news(
    session: Session, rows: Sequence[Claimed], *, now: datetime
) -> dict[int, LenderNews]:
    """The news of every lender with rows in the batch, keyed by lender id."""
    lender_ids = {row.lender_id for row in rows if row.lender_id is not None}
    repayment_pairs = {
        (row.lender_id, int(row.payload["transaction_id"]))
        for row in rows
        if row.kind == Kind.REPAYMENT and row.lender_id is not None
    }
    project_pairs = {
        (row.lender_id, row.project_id)
        for row in rows
        if row.kind in PROJECT_KINDS and row.lender_id is not None and row.project_id is not None
    }
    received = _received(session, repayment_pairs)
    stakes = _stakes(session, project_pairs | set(received))
    projects = _projects(session, {project for _, project in stakes})
    expired = {row.project_id for row in rows if row.kind == Kind.EXPIRED and row.project_id}
    similar = {p: _similar(session, projects[p], now) for p in expired if p in projects}
    impacts = _impacts(session, [row for row in rows if row.kind == Kind.IMPACT])
    circles = _circles(session, {row.circle_id for row in rows if row.kind in CIRCLE_NEWS})

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
            piece.lists[PROJECT_KINDS[Kind(row.kind)]].append(
                Stake(
                    projects[row.project_id],
                    lent,
                    repaid,
                    similar=tuple(similar.get(row.project_id, ())),
                    impact_text=impacts.get(row.id, ""),
                )
            )
        elif row.kind == Kind.INVITE and row.circle_id in circles:
            circle_id, name = circles[row.circle_id]
            piece.invites.append(Invite(circle_id, name, str(row.payload.get("inviter", ""))))
        elif row.kind == Kind.NEW_LEAD and row.circle_id in circles:
            _circle_id, name = circles[row.circle_id]
            former, channel = str(row.payload["former_lead"]), str(row.payload["channel"])
            left_company = bool(row.payload.get("left_company"))
            piece.leads.append(NewLead(name, channel, former, left_company))
        elif row.kind == Kind.IDLE_CREDIT:
            piece.idle = True
        elif row.kind == Kind.GRANT:
            piece.grants.append(int(row.payload["amount"]))
    available = _available(session, lender_ids)
    return {
        lender: _news(available.get(lender, 0), pieces[lender]) for lender in sorted(lender_ids)
    }


def _news(available: int, pieces: _Pieces) -> LenderNews:
    lists = {name: tuple(stakes) for name, stakes in pieces.lists.items()}
    # A project that has started repaying by the time the news goes out is told by its
    # repayment; "fully funded: will now be disbursed" beside it would be stale.
    repaying = {stake.project.id for stake in lists.get("repayments", ())}
    if "funded" in lists:
        lists["funded"] = tuple(s for s in lists["funded"] if s.project.id not in repaying)
    return LenderNews(
        available=available,
        invites=tuple(pieces.invites),
        leads=tuple(pieces.leads),
        idle_reminder=pieces.idle,
        grants=tuple(pieces.grants),
        **lists,
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
        received.update(
            {(lender, project): int(total) for lender, project, total in rows if lender is not None}
        )
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
    Project.status,
)


def _projects(session: Session, ids: set[int]) -> dict[int, ProjectFacts]:
    facts: dict[int, ProjectFacts] = {}
    for chunk in _chunks(ids):
        rows = session.execute(select(*_PROJECT_COLUMNS).where(Project.id.in_(chunk))).all()
        # By name: the typed columns stop at nine, so a positional row would not type-check.
        facts.update({row.id: ProjectFacts(**row._mapping) for row in rows})
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
    return [ProjectFacts(**row._mapping) for row in rows]


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
    # Keyed by an optional id so that a row without a project looks up nothing.
    by_project: dict[int | None, int] = dict(session.execute(latest).all()) if rows else {}
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


def _circles(session: Session, circle_ids: set[int | None]) -> dict[int, tuple[int, str]]:
    ids = {circle for circle in circle_ids if circle is not None}
    if not ids:
        return {}
    rows = session.execute(select(Circle.id, Circle.name).where(Circle.id.in_(ids))).all()
    return {circle_id: (circle_id, name) for circle_id, name in rows}


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
    totals = {circle: t.lent for circle, t in circle_totals(session, circle_ids).items()}
    by_project = _circle_stakes(
        session, {(row.circle_id, row.project_id) for row in rows if row.project_id is not None}
    )
    projects = _projects(session, {row.project_id for row in rows if row.project_id is not None})
    pledges = _pledges(session, [row.payload.get("pledge_id") for row in rows])
    weeks = _circle_weeks(session, [row for row in rows if row.kind == Kind.CIRCLE_SUMMARY])
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


def _circle_stakes(
    session: Session, pairs: set[tuple[int | None, int]]
) -> dict[tuple[int, int | None], tuple[int, int]]:
    # Keyed by an optional project so that a post without one looks up nothing.
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


def _pledges(session: Session, ids: list[Any]) -> dict[int | None, tuple[int, str]]:
    # Keyed by an optional id so that a payload without one looks up nothing.
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


# -- what: operators ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BrokenRule:
    name: str
    promise: str
    count: int


@dataclass(frozen=True)
class Alert:
    """What the reconciliation found wrong, as it stood when the job ran."""

    checked_on: str
    broken: tuple[BrokenRule, ...]


def operator_alerts(rows: Sequence[Claimed]) -> list[tuple[Claimed, Alert]]:
    """Each alert row with what it reports; its payload holds the findings themselves."""
    return [
        (
            row,
            Alert(
                checked_on=str(row.payload.get("checked_on", "")),
                broken=tuple(
                    BrokenRule(str(rule["name"]), str(rule["promise"]), int(rule["count"]))
                    for rule in row.payload.get("broken", [])
                ),
            ),
        )
        for row in rows
    ]
