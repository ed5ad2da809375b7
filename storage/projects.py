"""Projects: finding them by what people type, and their expected repayment schedule."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from storage.models import Project, ProjectStatus, RepaymentInterval

LENT_STATUSES = (ProjectStatus.FUNDED, ProjectStatus.REPAYING)


def find_project(session: Session, ref: str) -> Project | None:
    """A project by its short reference (any case) or by the source's external id."""
    text = ref.strip()
    if not text or len(text) > 64:
        return None
    return session.execute(
        select(Project).where(or_(Project.reference == text.upper(), Project.external_id == text))
    ).scalar_one_or_none()


def reference_for(source_prefix: str, external_id: str) -> str:
    """A short reference people can type: the source's letter and its id, e.g. ``K653051``."""
    cleaned = "".join(ch for ch in external_id.upper() if ch.isascii() and ch.isalnum())
    return f"{source_prefix}{cleaned}"[:16]


@dataclass(frozen=True)
class Instalment:
    due: date
    amount: int
    cumulative: int


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expected_schedule(project: Project) -> list[Instalment]:
    """What the partner is expected to repay, and when, from the term and interval.

    Monthly and irregular loans are expected in equal monthly instalments (irregular ones are
    judged against that average); a bullet loan is expected whole at the end of its term.
    """
    if project.funded_at is None:
        return []
    start = project.funded_at.date()
    total, term = project.amount, project.term_months
    if project.repayment_interval == RepaymentInterval.BULLET:
        return [Instalment(add_months(start, term), total, total)]
    base, extra = divmod(total, term)
    schedule, cumulative = [], 0
    for month in range(1, term + 1):
        amount = base + (1 if month <= extra else 0)
        cumulative += amount
        schedule.append(Instalment(add_months(start, month), amount, cumulative))
    return schedule


def next_expected(project: Project) -> Instalment | None:
    if project.status not in LENT_STATUSES:
        return None
    return next((i for i in expected_schedule(project) if i.cumulative > project.repaid), None)


def expected_by(project: Project, day: date) -> int:
    """How much should have been repaid by ``day``."""
    due = [i.cumulative for i in expected_schedule(project) if i.due <= day]
    return due[-1] if due else 0


def is_delinquent(project: Project, today: date, grace_days: int) -> bool:
    """More than ``grace_days`` behind the expected schedule."""
    if project.status not in LENT_STATUSES:
        return False
    cutoff = date.fromordinal(today.toordinal() - grace_days)
    return project.repaid < expected_by(project, cutoff)


def is_open(project: Project, now: datetime) -> bool:
    return project.status == ProjectStatus.FUNDRAISING and project.deadline > now
