"""What every project format is parsed into, and the value rules the formats share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.importing.rows import BadRow, SourceRow, optional_text, text
from storage.projects.models import RepaymentInterval

# Kiva's weekly loans are repaid at least monthly to the partner, so they are held to the
# monthly schedule like monthly loans.
INTERVALS = {
    "monthly": RepaymentInterval.MONTHLY,
    "weekly": RepaymentInterval.MONTHLY,
    "irregular": RepaymentInterval.IRREGULAR,
    "bullet": RepaymentInterval.BULLET,
}
WOMEN = {"female", "f", "woman", "women"}
MAX_TERM_MONTHS = 240
# Text limits of the columns; categories (sector, country, ...) are refused when too long,
# since a truncated category would be a wrong one, while descriptions are truncated.
PURPOSE_LIMIT = 1_000


@dataclass(frozen=True)
class PartnerRow:
    external_id: str
    name: str
    country: str
    risk_rating: int | None


@dataclass(frozen=True)
class ProjectRow:
    """One project as a file describes it, with its fields named as ``Project`` names them."""

    # Whose ids ``external_id`` is: "kiva", or "partner:<partner id>".
    source: str
    external_id: str
    reference: str
    borrower: str
    purpose: str
    country_code: str
    country: str
    region: str | None
    sector: str
    activity: str
    borrower_genders: str
    borrower_count: int
    women_count: int
    amount: int
    term_months: int
    repayment_interval: RepaymentInterval
    posted_at: datetime | None
    source_funded_at: datetime | None
    # None, or a time already past, opens the project for the standard window at import.
    deadline: datetime | None
    photo_url: str | None
    tags: str
    partner: PartnerRow


@dataclass(frozen=True)
class Borrowers:
    genders: str
    count: int
    women: int


def borrowers(row: SourceRow, name: str) -> Borrowers:
    """Who borrows, from a comma-separated list of genders; an empty list is one borrower."""
    listed = text_or_empty(row, name, 500)
    genders = [g.strip().lower() for g in listed.split(",") if g.strip()]
    women = sum(1 for gender in genders if gender in WOMEN)
    return Borrowers(", ".join(genders), max(len(genders), 1), women)


def interval(row: SourceRow, name: str) -> RepaymentInterval:
    value = text(row, name, 20).lower()
    if value not in INTERVALS:
        raise BadRow(f"{name} {value!r} is not one of {', '.join(INTERVALS)}")
    return INTERVALS[value]


def country_code(row: SourceRow, name: str) -> str:
    value = text(row, name, 2).upper()
    if len(value) != 2 or not value.isascii() or not value.isalpha():
        raise BadRow(f"{name} must be a two-letter ISO country code, not {value!r}")
    return value


def tags(row: SourceRow, name: str, limit: int = 500) -> str:
    """Distinct tags in order, as many whole tags as fit: sources repeat some many times."""
    listed = [tag.strip() for tag in text_or_empty(row, name, 100_000).split(",")]
    kept: list[str] = []
    for tag in dict.fromkeys(tag for tag in listed if tag):
        if len(", ".join([*kept, tag])) > limit:
            break
        kept.append(tag)
    return ", ".join(kept)


def text_or_empty(row: SourceRow, name: str, limit: int) -> str:
    return optional_text(row, name, limit) or ""
