"""microlend's own project format, for partners other than Kiva: CSV or JSON Lines.

Columns (CSV header names, or JSON keys; amounts in the platform currency, never floats):

=================== ========= ====================================================================
column              required  meaning
=================== ========= ====================================================================
external_id         yes       the partner's id for the loan (at most 64 characters), unique among
                              that partner's loans: the key that makes re-imports change nothing
borrower            yes       who borrows: a name or "Group of 5 borrowers" (truncated at 200)
purpose             yes       what the loan is for (truncated at 1,000 characters)
country_code        yes       ISO 3166 two-letter code, e.g. PE
country             yes       country name, e.g. Peru
region              no        region or town
sector              yes       e.g. Agriculture
activity            yes       e.g. Farming
borrower_genders    no        comma-separated, e.g. "female, female, male"; one borrower if empty
amount              yes       the loan, e.g. 1250.00 or "1,250.00"
term_months         yes       a whole number of months, 1 to 240
repayment_interval  yes       monthly, irregular or bullet (weekly is held to the monthly schedule)
partner_id          yes       the partner's id (at most 64 characters)
partner_name        no        used when the partner is new; "Partner <id>" otherwise
partner_country     no        used when the partner is new; the loan's country otherwise
risk_rating         no        the partner's stars, 0 to 5 in steps of 0.1
deadline            no        ISO date or date-time; kept if in the future, otherwise the project
                              opens for the standard fundraising window at import
photo_url           no        an https:// address of the borrower's photo (at most 500 characters)
=================== ========= ====================================================================

In JSON Lines each line is one object with these keys; values are strings or numbers, and a
missing key or ``null`` is an empty value.
"""

from __future__ import annotations

from storage.importing.rows import (
    BadRow,
    SourceRow,
    decimal,
    optional_text,
    text,
    timestamp,
    whole_number,
)
from storage.ledger.money import AmountError, parse_amount
from storage.projects.importers.cleaning import cleaned
from storage.projects.importers.project_rows import (
    MAX_TERM_MONTHS,
    PURPOSE_LIMIT,
    PartnerRow,
    ProjectRow,
    borrowers,
    country_code,
    interval,
)
from storage.projects.references import reference_for

REQUIRED = (
    "external_id",
    "borrower",
    "purpose",
    "country_code",
    "country",
    "sector",
    "activity",
    "amount",
    "term_months",
    "repayment_interval",
    "partner_id",
)
OPTIONAL = (
    "region",
    "borrower_genders",
    "partner_name",
    "partner_country",
    "risk_rating",
    "deadline",
    "photo_url",
)
COLUMNS = REQUIRED + OPTIONAL
REFERENCE_PREFIX = "P"
# The columns of free text and of names, cleaned of junk before they are checked.
TEXT_COLUMNS = ("purpose",)
NAME_COLUMNS = (
    "borrower",
    "country",
    "region",
    "sector",
    "activity",
    "partner_name",
    "partner_country",
)


def parse_row(source: SourceRow, *, currency: str) -> ProjectRow:
    row = cleaned(source, texts=TEXT_COLUMNS, names=NAME_COLUMNS)
    external_id = _external_id(row)
    country = text(row, "country", 100)
    who = borrowers(row, "borrower_genders")
    partner = _partner(row, country)
    return ProjectRow(
        source=f"partner:{partner.external_id}",
        external_id=external_id,
        reference=reference_for(REFERENCE_PREFIX, external_id),
        borrower=text(row, "borrower", 200, truncate=True),
        purpose=text(row, "purpose", PURPOSE_LIMIT, truncate=True),
        country_code=country_code(row, "country_code"),
        country=country,
        region=optional_text(row, "region", 200, truncate=True),
        sector=text(row, "sector", 100),
        activity=text(row, "activity", 100),
        borrower_genders=who.genders,
        borrower_count=who.count,
        women_count=who.women,
        amount=_amount(row, currency),
        term_months=whole_number(row, "term_months", maximum=MAX_TERM_MONTHS),
        repayment_interval=interval(row, "repayment_interval"),
        posted_at=None,
        source_funded_at=None,
        deadline=timestamp(row, "deadline"),
        photo_url=_photo_url(row),
        tags="",
        partner=partner,
    )


def _external_id(row: SourceRow) -> str:
    value = text(row, "external_id", 64)
    if not any(ch.isascii() and ch.isalnum() for ch in value):
        raise BadRow(f"external_id needs at least one letter or digit: {value!r}")
    return value


def _amount(row: SourceRow, currency: str) -> int:
    try:
        return parse_amount(text(row, "amount", 40), currency=currency)
    except AmountError as error:
        raise BadRow(f"amount: {error}") from None


def _photo_url(row: SourceRow) -> str | None:
    url = optional_text(row, "photo_url", 500)
    # Only web addresses: anything else (javascript:, file:) has no business in a message.
    if url is not None and not url.startswith("https://"):
        raise BadRow("photo_url must be an https:// address")
    return url


def _partner(row: SourceRow, country: str) -> PartnerRow:
    partner_id = text(row, "partner_id", 64)
    return PartnerRow(
        external_id=partner_id,
        name=optional_text(row, "partner_name", 200, truncate=True) or f"Partner {partner_id}",
        country=optional_text(row, "partner_country", 100) or country,
        risk_rating=_risk_rating(row),
    )


def _risk_rating(row: SourceRow) -> int | None:
    """Stars from 0 to 5, stored in tenths as Kiva rates its partners."""
    if not optional_text(row, "risk_rating", 10):
        return None
    tenths = decimal(row, "risk_rating") * 10
    if tenths != tenths.to_integral_value() or not 0 <= tenths <= 50:
        raise BadRow("risk_rating must be from 0 to 5 stars in steps of 0.1")
    return int(tenths)
