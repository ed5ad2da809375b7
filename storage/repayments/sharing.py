"""The reference rule for sharing a repayment instalment among a project's lenders.

A project of ``loan_total`` cents was funded by pledges; each instalment the partner repays is
shared among the pledges in proportion to their amounts, in whole cents. The rule here is the
specification: the set-based SQL that distributes repayments at scale mirrors it step by step,
and the property tests in ``tests/storage/repayments/test_sharing.py`` hold it to these promises:

- the shares sum exactly to the instalment, and none is negative;
- no lender is ever paid more in total than they lent, so the final instalment returns each
  lender exactly what they still are owed;
- the cents left over after rounding down go to the lenders furthest behind their exact
  *cumulative* share (ties by pledge id), which keeps every running total within two cents of
  exact over any schedule. Rounding each instalment on its own drifts much further (the tests
  show an example).

Everything is integer arithmetic: the exact share ``amount * repaid_total / loan_total`` is a
fraction, so comparisons are scaled by ``loan_total`` rather than rounded.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True, slots=True)
class PledgeState:
    """One pledge to a project: what it lent and what has been repaid on it so far, in cents."""

    pledge_id: int
    amount: int
    repaid: int


def apportion(
    instalment: int,
    pledges: Sequence[PledgeState],
    *,
    loan_total: int,
    repaid_before: int,
) -> list[int]:
    """Share ``instalment`` cents among ``pledges``; return the shares in the order given.

    ``repaid_before`` is what the project had repaid before this instalment (the sum of the
    pledges' ``repaid``). Raises ``ValueError`` when the inputs are inconsistent.
    """
    _validate(instalment, pledges, loan_total=loan_total, repaid_before=repaid_before)
    repaid_after = repaid_before + instalment

    # Step 1: everyone's proportional share of this instalment, rounded down.
    base = [p.amount * instalment // loan_total for p in pledges]
    # Step 2: the cents that rounding down left over (fewer than the number of pledges).
    leftover = instalment - sum(base)
    # Step 3: how far each lender would be behind their exact cumulative share after this
    # instalment, times loan_total so that it stays an integer.
    deficit = [
        p.amount * repaid_after - loan_total * (p.repaid + b)
        for p, b in zip(pledges, base, strict=True)
    ]
    # Step 4: how many more cents each lender can take before being paid more than they lent.
    room = [p.amount - p.repaid - b for p, b in zip(pledges, base, strict=True)]
    # The rule never builds such a state (each lender stays within a cent or two of exact), so
    # one means the stored repaid totals were not written by it; paying would break the cap.
    if min(room) < 0:
        raise ValueError(
            "A pledge has been repaid so far ahead of its share that this instalment would "
            "pay it more than it lent; the stored repaid totals are inconsistent"
        )

    # Step 5: the furthest behind (who can still take a cent) get the leftover cents first.
    rank = sorted(
        range(len(pledges)),
        key=lambda i: (room[i] <= 0, -deficit[i], pledges[i].pledge_id),
    )
    extra = _hand_out(leftover, rank, room)
    # Step 6 needs no special case: on the final instalment the rooms add up to exactly the
    # leftover, so every room is filled and each share is ``amount - repaid`` (tested).
    return [b + e for b, e in zip(base, extra, strict=True)]


def _hand_out(leftover: int, rank: list[int], room: list[int]) -> list[int]:
    """Give ``leftover`` cents in ``rank`` order: one each first, then up to each one's room.

    The second round only matters when fewer lenders have room than there are cents left, which
    happens late in a schedule when most lenders are already fully repaid. It always finishes:
    the rooms add up to ``loan_total - repaid_after + leftover``, which is at least ``leftover``.
    """
    extra = [0] * len(room)
    remaining = leftover
    for i in rank:
        if remaining == 0:
            break
        if room[i] > 0:
            extra[i] = 1
            remaining -= 1
    for i in rank:
        if remaining == 0:
            break
        more = min(room[i] - extra[i], remaining)
        if more > 0:
            extra[i] += more
            remaining -= more
    return extra


def _validate(
    instalment: int,
    pledges: Sequence[PledgeState],
    *,
    loan_total: int,
    repaid_before: int,
) -> None:
    """Refuse inputs for which the promises of ``apportion`` cannot hold."""
    if not pledges:
        raise ValueError("A repayment needs at least one pledge to share it among")
    if loan_total <= 0:
        raise ValueError(f"The loan total must be positive, not {loan_total}")
    if any(p.amount <= 0 for p in pledges):
        raise ValueError("Every pledge amount must be positive")
    if sum(p.amount for p in pledges) != loan_total:
        raise ValueError(f"The pledges must sum to the loan total of {loan_total} cents")
    if any(not 0 <= p.repaid <= p.amount for p in pledges):
        raise ValueError("Each pledge's repaid amount must be between 0 and what it lent")
    if sum(p.repaid for p in pledges) != repaid_before:
        raise ValueError(f"The pledges' repaid amounts must sum to repaid_before={repaid_before}")
    if len({p.pledge_id for p in pledges}) != len(pledges):
        raise ValueError("Pledge ids must be distinct, as they break ties")
    if instalment <= 0:
        raise ValueError(f"The instalment must be positive, not {instalment}")
    if instalment > loan_total - repaid_before:
        raise ValueError(
            f"The instalment of {instalment} cents exceeds the "
            f"{loan_total - repaid_before} cents still owed"
        )


def worst_drift(pledges: Sequence[PledgeState], *, loan_total: int) -> Fraction:
    """The largest gap, in cents, between a pledge's repaid total and its exact share.

    The exact share of a pledge is ``amount * repaid_total / loan_total``, where
    ``repaid_total`` is what the whole project has repaid so far.
    """
    repaid_total = sum(p.repaid for p in pledges)
    return max(abs(p.repaid - Fraction(p.amount * repaid_total, loan_total)) for p in pledges)
