"""Read-only queries over projects: browsing with filters and paging, one project's full card.

Each function runs a fixed number of set-based statements, whatever the number of rows, and
returns frozen view models that hold no session.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, UnaryExpression, distinct, func, select
from sqlalchemy.orm import Session

from storage.circles.models import Circle
from storage.lending.models import Pledge
from storage.projects.models import ImpactUpdate, Partner, Project, ProjectStatus
from storage.projects.schedule import Instalment, expected_schedule, next_expected

ENDING_SOON = timedelta(days=7)
# "Almost funded" means at least three quarters raised (compared in integers: 4*funded >= 3*amount).
ALMOST_FUNDED = (3, 4)
LATEST_UPDATES = 3
CIRCLES_SHOWN = 10
# How many near names an unknown filter word is answered with.
SUGGESTIONS = 3


class Flag(enum.StrEnum):
    """The words of `/lend browse` that are neither countries nor sectors."""

    WOMEN = "women"
    ENDING_SOON = "ending-soon"
    ALMOST_FUNDED = "almost-funded"


@dataclass(frozen=True)
class BrowseFilters:
    """Open projects in any of the countries, in any of the sectors, with every flag set."""

    countries: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ()
    flags: frozenset[Flag] = frozenset()

    @property
    def women(self) -> bool:
        return Flag.WOMEN in self.flags

    @property
    def ending_soon(self) -> bool:
        return Flag.ENDING_SOON in self.flags

    @property
    def almost_funded(self) -> bool:
        return Flag.ALMOST_FUNDED in self.flags


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


def _normal(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@dataclass(frozen=True)
class UnknownFilter:
    """A word that names no flag, country or sector, as it was typed, and the names closest to
    it (for "Did you mean ...?")."""

    word: str
    suggestions: tuple[str, ...] = ()


# The kinds of names a filter word can be, in the order a word is tried against them.
NAME_KINDS = ("countries", "sectors")


@dataclass(frozen=True)
class _Named:
    """Up to three words that name countries or sectors: how many words, and every stored
    spelling of the names ("Burkina Faso", "burkina-faso" and "BurkinaFaso" are one)."""

    length: int
    kind: str
    names: tuple[str, ...]


def _by_normal(names: Iterable[str]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for name in names:
        found[_normal(name)] = (*found.get(_normal(name), ()), name)
    return found


def _named_at(
    words: list[str], index: int, vocabulary: dict[str, dict[str, tuple[str, ...]]]
) -> _Named | None:
    for length in (3, 2, 1):
        joined = _normal("".join(words[index : index + length]))
        for kind, names in vocabulary.items():
            if joined in names:
                return _Named(length, kind, names[joined])
    return None


def parse_filters(words: list[str], choices: Choices) -> BrowseFilters | UnknownFilter:
    """Match words to flags, countries and sectors, any case, multi-word names joined or not.

    Several countries (or sectors) widen the choice; each kind of filter narrows it."""
    vocabulary = {kind: _by_normal(getattr(choices, kind)) for kind in NAME_KINDS}
    chosen: dict[str, dict[str, None]] = {kind: {} for kind in NAME_KINDS}
    flags: set[Flag] = set()
    index = 0
    while index < len(words):
        if (flag := _flag(words[index])) is not None:
            flags.add(flag)
            index += 1
        elif (named := _named_at(words, index, vocabulary)) is not None:
            chosen[named.kind].update(dict.fromkeys(named.names))
            index += named.length
        else:
            return UnknownFilter(words[index], _closest(words[index], choices))
    return BrowseFilters(
        countries=tuple(chosen["countries"]),
        sectors=tuple(chosen["sectors"]),
        flags=frozenset(flags),
    )


def _flag(word: str) -> Flag | None:
    try:
        return Flag(word.casefold())
    except ValueError:
        return None


def _closest(word: str, choices: Choices) -> tuple[str, ...]:
    names = [*choices.countries, *choices.sectors, *Flag]
    by_normal = {_normal(name): name for name in names}
    close = difflib.get_close_matches(_normal(word), list(by_normal), n=SUGGESTIONS)
    return tuple(by_normal[normal] for normal in close)


def _card_query() -> Select[Project, int | None]:
    return select(Project, Partner.risk_rating).join(Partner, Partner.id == Project.partner_id)


def _card(project: Project, risk_rating: int | None, now: datetime) -> ProjectCard:
    days_left = project.days_left(now)
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
    """Countries and sectors that have open projects, alphabetically; one statement, whose
    rows are at most every pair of them."""
    pairs = session.execute(
        select(Project.country, Project.sector).distinct().where(*_open_now(now))
    ).all()
    return Choices(
        countries=tuple(sorted({country for country, _sector in pairs})),
        sectors=tuple(sorted({sector for _country, sector in pairs})),
    )


def browse(
    session: Session, filters: BrowseFilters, now: datetime, *, page: int = 0, per_page: int = 5
) -> BrowsePage:
    """One page of open projects matching the filters; one statement."""
    query = _card_query().where(*_open_now(now), *_matching(filters, now))
    query = query.order_by(*_browse_order(filters), Project.id.desc())
    rows = session.execute(query.offset(page * per_page).limit(per_page + 1)).all()
    cards = tuple(_card(project, rating, now) for project, rating in rows[:per_page])
    return BrowsePage(cards=cards, page=page, has_more=len(rows) > per_page)


def _matching(filters: BrowseFilters, now: datetime) -> list[ColumnElement[bool]]:
    """The filters as SQL: IN lists for the names (the stored spellings, so no function of the
    column stands between the query and an index), one condition per flag."""
    conditions = [_flag_condition(flag, now) for flag in sorted(filters.flags)]
    if filters.countries:
        conditions.append(Project.country.in_(filters.countries))
    if filters.sectors:
        conditions.append(Project.sector.in_(filters.sectors))
    return conditions


def _flag_condition(flag: Flag, now: datetime) -> ColumnElement[bool]:
    match flag:
        case Flag.WOMEN:
            return Project.women_count > 0
        case Flag.ENDING_SOON:
            return Project.deadline <= now + ENDING_SOON
        case Flag.ALMOST_FUNDED:
            share, whole = ALMOST_FUNDED
            return Project.funded * whole >= Project.amount * share


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
