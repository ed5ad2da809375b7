"""Kiva's public loan data (the Kaggle "Data Science for Good" export), amounts in USD.

Kiva gives no partner names, no borrower names and no fundraising deadline: partners are named
after their Kiva id, borrowers are described from their number and genders, and every project
opens for the programme's standard fundraising window when it is imported.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact

from storage.importing.rows import (
    BadRow,
    ImportFileError,
    SourceRow,
    decimal,
    optional_text,
    text,
    timestamp,
    whole_number,
)
from storage.ledger.money import DEFAULT_MAXIMUM, AmountError, cents_from_decimal
from storage.projects.importers.cleaning import cleaned
from storage.projects.importers.project_rows import (
    MAX_TERM_MONTHS,
    PURPOSE_LIMIT,
    Borrowers,
    PartnerRow,
    ProjectRow,
    borrowers,
    country_code,
    interval,
    tags,
)
from storage.projects.references import reference_for

COLUMNS = (
    "id",
    "loan_amount",
    "activity",
    "sector",
    "use",
    "country_code",
    "country",
    "region",
    "partner_id",
    "posted_time",
    "funded_time",
    "term_in_months",
    "tags",
    "borrower_genders",
    "repayment_interval",
)
SOURCE = "kiva"
# Operands of at most 40 digits each: a product of 100 digits is always exact.
_EXACT = Context(prec=100, traps=[Inexact])
MAX_RATE = Decimal(100_000)
# The columns of free text and of names, cleaned of junk before they are checked.
TEXT_COLUMNS = ("use",)
NAME_COLUMNS = ("activity", "sector", "country", "region", "tags")


def check_rate(rate: Decimal) -> None:
    if not rate.is_finite() or not 0 < rate <= MAX_RATE:
        raise ImportFileError(f"The USD rate must be a positive number, not {rate}.")


def parse_row(source: SourceRow, *, usd_rate: Decimal) -> ProjectRow:
    row = cleaned(source, texts=TEXT_COLUMNS, names=NAME_COLUMNS)
    kiva_id = _kiva_id(row)
    country = text(row, "country", 100)
    activity = text(row, "activity", 100)
    sector = text(row, "sector", 100)
    who = borrowers(row, "borrower_genders")
    return ProjectRow(
        source=SOURCE,
        external_id=kiva_id,
        reference=reference_for("K", kiva_id),
        borrower=_describe(who, activity),
        # A handful of Kiva loans state no use; the activity is the best purpose we have.
        purpose=optional_text(row, "use", PURPOSE_LIMIT, truncate=True) or f"{activity} loan",
        country_code=country_code(row, "country_code"),
        country=country,
        region=optional_text(row, "region", 200, truncate=True),
        sector=sector,
        activity=activity,
        borrower_genders=who.genders,
        borrower_count=who.count,
        women_count=who.women,
        amount=_amount(row, usd_rate),
        term_months=whole_number(row, "term_in_months", maximum=MAX_TERM_MONTHS),
        repayment_interval=interval(row, "repayment_interval"),
        posted_at=timestamp(row, "posted_time"),
        source_funded_at=timestamp(row, "funded_time"),
        deadline=None,
        photo_url=None,
        tags=tags(row, "tags"),
        partner=_partner(row, country),
    )


def _kiva_id(row: SourceRow) -> str:
    value = text(row, "id", 20)
    if not value.isascii() or not value.isdigit():
        raise BadRow(f"id must be Kiva's numeric loan id, not {value!r}")
    return value


def _amount(row: SourceRow, usd_rate: Decimal) -> int:
    """USD times the rate, exactly, rounded half-even to cents only at the end."""
    usd = decimal(row, "loan_amount")
    if usd <= 0:
        raise BadRow(f"loan_amount must be positive, not {usd}")
    try:
        cents = cents_from_decimal(_EXACT.multiply(usd, usd_rate), round_half_even=True)
    except AmountError as error:
        raise BadRow(f"loan_amount: {error}") from None
    if cents == 0:
        raise BadRow(f"loan_amount {usd} rounds to nothing at the rate {usd_rate}")
    if cents > DEFAULT_MAXIMUM:
        raise BadRow(f"loan_amount is over {DEFAULT_MAXIMUM // 100:,} after conversion")
    return cents


def _partner(row: SourceRow, country: str) -> PartnerRow:
    """Kiva's field partner; loans Kiva made without one share a partner per country."""
    number = optional_text(row, "partner_id", 20)
    if number is None:
        code = country_code(row, "country_code")
        return PartnerRow(f"kiva:direct:{code}", f"Kiva direct loans ({country})", country, None)
    as_number = decimal(row, "partner_id")
    if as_number != as_number.to_integral_value() or as_number <= 0:
        raise BadRow(f"partner_id must be a whole number, not {number!r}")
    partner_id = str(int(as_number))  # the export writes ids as floats: 145.0
    return PartnerRow(f"kiva:{partner_id}", f"Kiva field partner {partner_id}", country, None)


def _describe(who: Borrowers, activity: str) -> str:
    """Kiva's data has no names: "A woman borrower in Pigs", "Group of 3 borrowers in Retail"."""
    if who.count > 1:
        return f"Group of {who.count} borrowers in {activity}"
    kind = "woman borrower" if who.women else "borrower"
    return f"A {kind} in {activity}"
