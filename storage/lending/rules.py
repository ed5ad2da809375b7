"""The programme's lending rules, given to every operation that needs them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LendingRules:
    currency: str = "EUR"
    min_pledge: int = 2_000
    fundraising_days: int = 30
    monthly_cap: int = 50_000
    delinquent_after_days: int = 30
