"""Read-only queries over projects: browsing with filters and paging, one project's full card.

Each function runs a fixed number of set-based statements, whatever the number of rows, and
returns frozen view models that hold no session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, UnaryExpression, distinct, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage.circles.models import Circle
from storage.lending.models import Pledge
from storage.projects.models import ImpactUpdate, Partner, Project, ProjectStatus
from storage.projects.schedule import Instalment, expected_schedule, next_expected

ENDING_SOON = timedelta(days=7)
# "Almost funded" means at least three quarters raised (compared in integers: 4*funded >= 3*amount).
ALMOST_FUNDED = (3, 4)
LATEST_UPDATES = 3
CIRCLES_SHOWN = 10


@dataclass(frozen=True)
class BrowseFilters:
    country: str | None = None
    sector: str | None = None
    women: bool = False
    ending_soon: bool = False
    almost_funded: bool = False


@dataclass(frozen=True)
class Choices:
    """The countries and sectors people can filter open projects by."""

    countries: tuple[str, ...]
    sectors: tuple[str, ...]


@dataclass(frozen=True)
class ProjectCard:
    id: int
    reference: str
    borrower: str
    country: str
    sector: str
    activity: str
    purpose: str
    amount: int
    funded: int
    deadline: datetime
    days_left: int
    risk_rating: int | None  # stars in tenths, 0..50
    women_count: int
    borrower_count: int
    status: ProjectStatus

    @property
    def still_needed(self) -> int:
        return self.amount - self.funded


@dataclass(frozen=True)
class BrowsePage:
    cards: tuple[ProjectCard, ...]
    page: int
    has_more: bool


@dataclass(frozen=True)
class ImpactNote:
    text: str
    photo_url: str | None
    created_at: datetime


@dataclass(frozen=True)
class ProjectDetail:
    card: ProjectCard
    region: str | None
    partner: str
    term_months: int
    repayment_interval: str
    repaid: int
    lost: int
    photo_url: str | None
    schedule: tuple[Instalment, ...]
    next_due: Instalment | None
    lender_count: int
    circles: tuple[str, ...]
    updates: tuple[ImpactNote, ...]


# The words of `/lend browse` that are flags rather than countries or sectors.
FLAGS = {"women": "women", "ending-soon": "ending_soon", "almost-funded": "almost_funded"}


def _normal(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@dataclass(frozen=True)
class UnknownFilter:
    word: str


def parse_filters(words: list[str], choices: Choices) -> BrowseFilters | UnknownFilter:
    """Match words to flags, countries and sectors, any case, multi-word names joined or not."""
    found: dict[str, Any] = {}
    countries = {_normal(name): name for name in choices.countries}
    sectors = {_normal(name): name for name in choices.sectors}
    index = 0
    while index < len(words):
        word = words[index].casefold()
        if word in FLAGS:
            found[FLAGS[word]] = True
            index += 1
            continue
        # "Burkina Faso", "burkina-faso" and "BurkinaFaso" all name the same country.
        for length in (3, 2, 1):
            joined = _normal("".join(words[index : index + length]))
            if joined in countries or joined in sectors:
                key = "country" if joined in countries else "sector"
                found[key] = countries.get(joined) or sectors[joined]
                index += length
                break
        else:
            return UnknownFilter(words[index])
    return BrowseFilters(**found)


def _card_query() -> Select[Project, int | None]:
    return select(Project, Partner.risk_rating).join(Partner, Partner.id == Project.partner_id)


def _card(project: Project, risk_rating: int | None, now: datetime) -> ProjectCard:
    days_left = max((project.deadline - now).days, 0)
    return ProjectCard(
        id=project.id,
        reference=project.reference,
        borrower=project.borrower,
        country=project.country,
        sector=project.sector,
        activity=project.activity,
        purpose=project.purpose,
        amount=project.amount,
        funded=project.funded,
        deadline=project.deadline,
        days_left=days_left,
        risk_rating=risk_rating,
        women_count=project.women_count,
        borrower_count=project.borrower_count,
        status=project.status,
    )


def _open_now(now: datetime) -> list[ColumnElement[bool]]:
    return [Project.status == ProjectStatus.FUNDRAISING, Project.deadline > now]


def filter_choices(session: Session, now: datetime) -> Choices:
    """Countries and sectors that have open projects, alphabetically."""

    def values(column: InstrumentedAttribute[str]) -> tuple[str, ...]:
        query = select(column).distinct().where(*_open_now(now)).order_by(column)
        return tuple(session.execute(query).scalars())

    return Choices(countries=values(Project.country), sectors=values(Project.sector))


def browse(
    session: Session, filters: BrowseFilters, now: datetime, *, page: int = 0, per_page: int = 5
) -> BrowsePage:
    """One page of open projects matching the filters; one statement."""
    query = _card_query().where(*_open_now(now))
    if filters.country:
        query = query.where(func.lower(Project.country) == filters.country.lower())
    if filters.sector:
        query = query.where(func.lower(Project.sector) == filters.sector.lower())
    if filters.women:
        query = query.where(Project.women_count > 0)
    if filters.ending_soon:
        query = query.where(Project.deadline <= now + ENDING_SOON)
    if filters.almost_funded:
        share, whole = ALMOST_FUNDED
        query = query.where(Project.funded * whole >= Project.amount * share)
    query = query.order_by(*_browse_order(filters), Project.id.desc())
    rows = session.execute(query.offset(page * per_page).limit(per_page + 1)).all()
    cards = tuple(_card(project, rating, now) for project, rating in rows[:per_page])
    return BrowsePage(cards=cards, page=page, has_more=len(rows) > per_page)


def _browse_order(filters: BrowseFilters) -> list[UnaryExpression[Any]]:
    if filters.ending_soon:
        return [Project.deadline.asc()]
    if filters.almost_funded:
        return [(Project.amount - Project.funded).asc()]
    return [Project.posted_at.desc()]


def featured(session: Session, now: datetime, limit: int = 3) -> tuple[ProjectCard, ...]:
    """Open projects furthest along to their goal, a nudge to finish them; when nobody has
    lent to any yet, those whose time runs out first (a 0% project is not close to its goal)."""
    started = (
        _card_query()
        .where(*_open_now(now), Project.funded > 0)
        .order_by((Project.funded * 1_000 / Project.amount).desc(), Project.deadline.asc())
        .limit(limit)
    )
    rows = session.execute(started).all()
    if not rows:
        rows = session.execute(
            _card_query().where(*_open_now(now)).order_by(Project.deadline.asc()).limit(limit)
        ).all()
    return tuple(_card(project, rating, now) for project, rating in rows)


def open_card(session: Session, project_id: int, now: datetime) -> ProjectCard | None:
    """The card of a project that is still raising money, or None."""
    row = session.execute(_card_query().where(Project.id == project_id, *_open_now(now))).first()
    return _card(row[0], row[1], now) if row else None


def project_detail(session: Session, project_id: int, now: datetime) -> ProjectDetail | None:
    """Everything `/lend project REF` shows, in four statements."""
    row = session.execute(
        select(Project, Partner.risk_rating, Partner.name)
        .join(Partner, Partner.id == Project.partner_id)
        .where(Project.id == project_id)
    ).first()
    if row is None:
        return None
    project, rating, partner = row
    lender_count = session.execute(
        select(func.count(distinct(Pledge.lender_id))).where(
            Pledge.project_id == project_id, Pledge.refunded.is_(False)
        )
    ).scalar_one()
    circles = session.execute(
        select(Circle.name)
        .distinct()
        .join(Pledge, Pledge.circle_id == Circle.id)
        .where(Pledge.project_id == project_id)
        .order_by(Circle.name)
        .limit(CIRCLES_SHOWN)
    ).scalars()
    updates = session.execute(
        select(ImpactUpdate)
        .where(ImpactUpdate.project_id == project_id)
        .order_by(ImpactUpdate.created_at.desc(), ImpactUpdate.id.desc())
        .limit(LATEST_UPDATES)
    ).scalars()
    return ProjectDetail(
        card=_card(project, rating, now),
        region=project.region,
        partner=partner,
        term_months=project.term_months,
        repayment_interval=project.repayment_interval.value,
        repaid=project.repaid,
        lost=project.lost,
        photo_url=project.photo_url,
        schedule=tuple(expected_schedule(project)),
        next_due=next_expected(project),
        lender_count=lender_count,
        circles=tuple(circles),
        updates=tuple(ImpactNote(u.text, u.photo_url, u.created_at) for u in updates),
    )


def is_open(project: Project, now: datetime) -> bool:
    return project.status == ProjectStatus.FUNDRAISING and project.deadline > now
