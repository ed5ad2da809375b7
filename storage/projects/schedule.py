"""A project's expected repayment schedule, and lateness against it."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from storage.projects.models import LENT_STATUSES, Project, RepaymentInterval


@dataclass(frozen=True)
class Instalment:
    """One expected instalment; ``paid`` is how much of it the project's repayments so far
    cover (they pay the schedule in order, so an early or partial repayment shows here)."""

    due: date
    amount: int
    cumulative: int
    paid: int = 0

    @property
    def owed(self) -> int:
        return self.amount - self.paid

    @property
    def is_paid(self) -> bool:
        return self.paid == self.amount


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
        return [_instalment(add_months(start, term), total, total, project.repaid)]
    base, extra = divmod(total, term)
    schedule, cumulative = [], 0
    for month in range(1, term + 1):
        amount = base + (1 if month <= extra else 0)
        cumulative += amount
        schedule.append(_instalment(add_months(start, month), amount, cumulative, project.repaid))
    return schedule


def _instalment(due: date, amount: int, cumulative: int, repaid: int) -> Instalment:
    paid = min(max(repaid - (cumulative - amount), 0), amount)
    return Instalment(due, amount, cumulative, paid)


def next_expected(project: Project) -> Instalment | None:
    """The first instalment not yet paid in full; what is still ``owed`` of it is what the
    partner is expected to repay next."""
    if project.status not in LENT_STATUSES:
        return None
    return next((i for i in expected_schedule(project) if not i.is_paid), None)


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
