"""The programme's lending rules, given to every operation that needs them."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LeaverCredit(enum.StrEnum):
    """What becomes of the credit of someone who left the company."""

    # Paid out to them, as a withdrawal of all of it would be.
    PAYOUT = "payout"
    # Given to the programme's grant pool, for the company's future grants.
    DONATE = "donate"


@dataclass(frozen=True)
class LendingRules:
    currency: str = "EUR"
    min_pledge: int = 2_000
    fundraising_days: int = 30
    monthly_cap: int = 50_000
    delinquent_after_days: int = 30
    leaver_credit: LeaverCredit = LeaverCredit.PAYOUT
