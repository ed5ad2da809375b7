"""The reconciliation: every rule that ties the books to the rows they come from.

Balanced books are not enough: a lender's committed money must be exactly their open pledges,
a project's funded amount exactly its pledges, a payout batch exactly its requests. Each rule is
one set-based query that selects the rows breaking it (with a count over all of them, read in
the same pass), so checking a million pledges is a handful of scans, not a loop. ``microlend
check`` prints every broken rule with its first rows; the scheduled job tells the operators.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    case,
    cast,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, sessionmaker

from storage.db.sql_functions import month_of
from storage.db.unit_of_work import transaction
from storage.ledger.models import Account, AccountKind, LedgerTransaction, Posting
from storage.ledger.postings import GUARDED_KINDS
from storage.lending.models import LenderMonth, PayoutRequest, Pledge
from storage.notifications import outbox
from storage.notifications.kinds import Kind
from storage.notifications.outbox import TickResult
from storage.projects.models import LENT_STATUSES, Project, ProjectStatus
from storage.repayments.models import Repayment

# The rows a rule selects, whatever their columns.
Violations: TypeAlias = Select[*tuple[Any, ...]]
# Rows shown per broken rule; the count is always of all of them.
SHOWN = 20


@dataclass(frozen=True)
class Rule:
    """One invariant: a name, what it promises, and the query of the rows that break it."""

    name: str
    promise: str
    violations: Violations


@dataclass(frozen=True)
class Broken:
    rule: Rule
    count: int
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Reconciliation:
    checked: tuple[Rule, ...]
    broken: tuple[Broken, ...]

    @property
    def ok(self) -> bool:
        return not self.broken


def reconcile(session: Session, *, shown: int = SHOWN) -> Reconciliation:
    """Run every rule; the broken ones come back with their first ``shown`` rows."""
    rules = tuple(RULES)
    broken = [found for rule in rules if (found := _run(session, rule, shown)) is not None]
    return Reconciliation(rules, tuple(broken))


def _run(session: Session, rule: Rule, shown: int) -> Broken | None:
    found = rule.violations.subquery()
    total = func.count().over().label("violations")
    # At least one row, to learn whether the rule is broken and the count of all that break it.
    result = session.execute(select(found, total).limit(max(shown, 1)))
    rows = result.all()
    if not rows:
        return None
    columns = tuple(result.keys())[:-1]
    kept = rows[:shown]
    return Broken(rule, int(rows[0][-1]), columns, tuple(tuple(row[:-1]) for row in kept))


def _sum(value: SQLColumnExpression[Any]) -> ColumnElement[int]:
    # PostgreSQL sums bigints as numeric; the cast keeps every figure an integer.
    return cast(func.coalesce(func.sum(value), 0), BigInteger)


def _kind_sum(kind: AccountKind) -> ColumnElement[int]:
    return _sum(case((Account.kind == kind, Posting.amount), else_=0))


# -- the ledger itself ---------------------------------------------------------------------


def _unbalanced_transactions() -> Violations:
    return (
        select(Posting.transaction_id, _sum(Posting.amount).label("legs_sum"))
        .group_by(Posting.transaction_id)
        .having(func.sum(Posting.amount) != 0)
    )


def _stale_balances() -> Violations:
    sums = (
        select(Posting.account_id, _sum(Posting.amount).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    postings = func.coalesce(sums.c.total, 0)
    return (
        select(
            Account.id.label("account_id"),
            Account.kind,
            Account.balance,
            postings.label("postings"),
        )
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.balance != postings)
    )


def _negative_lender_money() -> Violations:
    return select(
        Account.id.label("account_id"), Account.lender_id, Account.kind, Account.balance
    ).where(Account.kind.in_(GUARDED_KINDS), Account.balance < 0)


def _pledge_postings_elsewhere() -> Violations:
    """A posting names a pledge that exists, and a lender's own money moves with a pledge
    (only credit comes and goes without one). Whose accounts a pledge's legs are on is the
    ``pledge_postings`` rule's, which reads them anyway."""
    orphans = select(Posting.id.label("posting_id"), Posting.pledge_id).where(
        Posting.pledge_id.is_not(None),
        ~select(Pledge.id).where(Pledge.id == Posting.pledge_id).exists(),
    )
    unpledged = (
        select(Posting.id, Posting.pledge_id)
        .join(Account, Account.id == Posting.account_id)
        .where(
            Posting.pledge_id.is_(None),
            Account.kind.in_((AccountKind.COMMITTED, AccountKind.OUTSTANDING, AccountKind.PAYROLL)),
        )
    )
    legs = union_all(orphans, unpledged).subquery()
    return select(legs.c.posting_id, legs.c.pledge_id)


# -- pledges: what each one must have moved --------------------------------------------------


def _expected(pledge_live_on: Sequence[ProjectStatus], value: SQLColumnExpression[int]) -> Any:
    live = and_(Pledge.refunded.is_(False), Project.status.in_(pledge_live_on))
    return case((live, value), else_=0)


def _pledge_postings() -> Violations:
    """Each pledge's postings, per kind of account: what the ledger says it moved."""
    sums = (
        select(
            Posting.pledge_id.label("pledge_id"),
            _kind_sum(AccountKind.AVAILABLE).label("available"),
            _kind_sum(AccountKind.COMMITTED).label("committed"),
            _kind_sum(AccountKind.OUTSTANDING).label("outstanding"),
            _kind_sum(AccountKind.PAYROLL).label("payroll"),
            # Whose accounts the legs are on: the pledge's lender's, and only theirs.
            func.min(Account.lender_id).label("first_owner"),
            func.max(Account.lender_id).label("last_owner"),
        )
        .join(Account, Account.id == Posting.account_id)
        .where(Posting.pledge_id.is_not(None))
        .group_by(Posting.pledge_id)
        .subquery()
    )
    committed = func.coalesce(sums.c.committed, 0)
    outstanding = func.coalesce(sums.c.outstanding, 0)
    payroll = func.coalesce(sums.c.payroll, 0)
    available = func.coalesce(sums.c.available, 0)
    want_committed = _expected((ProjectStatus.FUNDRAISING,), Pledge.amount)
    want_outstanding = _expected(LENT_STATUSES, Pledge.amount - Pledge.repaid)
    # Credit spent, given back whole by an expiry, and every repaid cent.
    want_available = (
        -Pledge.from_credit
        + case((Pledge.refunded.is_(True), Pledge.amount), else_=0)
        + Pledge.repaid
    )
    return (
        select(
            Pledge.id.label("pledge_id"),
            Project.status.label("project_status"),
            committed.label("committed"),
            want_committed.label("expected_committed"),
            outstanding.label("outstanding"),
            want_outstanding.label("expected_outstanding"),
            available.label("available"),
            want_available.label("expected_available"),
            payroll.label("payroll"),
        )
        .join(Project, Project.id == Pledge.project_id)
        .outerjoin(sums, sums.c.pledge_id == Pledge.id)
        .where(
            or_(
                committed != want_committed,
                outstanding != want_outstanding,
                available != want_available,
                payroll != -Pledge.from_payroll,
                sums.c.first_owner != Pledge.lender_id,
                sums.c.last_owner != Pledge.lender_id,
            )
        )
    )


def _lender_account(kind: AccountKind, expected: SQLColumnExpression[int]) -> Violations:
    """A lender account's balance against the pledges it must equal."""
    per_lender = (
        select(Pledge.lender_id.label("lender_id"), _sum(expected).label("expected"))
        .join(Project, Project.id == Pledge.project_id)
        .group_by(Pledge.lender_id)
        .subquery()
    )
    want = func.coalesce(per_lender.c.expected, 0)
    return (
        select(Account.lender_id, Account.balance, want.label("expected"))
        .outerjoin(per_lender, per_lender.c.lender_id == Account.lender_id)
        .where(Account.kind == kind, Account.lender_id.is_not(None), Account.balance != want)
    )


def _refunds_out_of_step() -> Violations:
    expired = Project.status == ProjectStatus.EXPIRED
    return (
        select(
            Pledge.id.label("pledge_id"), Pledge.refunded, Project.status.label("project_status")
        )
        .join(Project, Project.id == Pledge.project_id)
        .where(or_(and_(expired, Pledge.refunded.is_(False)), and_(~expired, Pledge.refunded)))
    )


def _new_money_out_of_step() -> Violations:
    """The monthly cap counts exactly the payroll money of the month's pledges."""
    month = month_of(Pledge.created_at)
    pledged = (
        select(
            Pledge.lender_id.label("lender_id"),
            month.label("month"),
            _sum(Pledge.from_payroll).label("pledged"),
        )
        .where(Pledge.from_payroll > 0)
        .group_by(Pledge.lender_id, month)
        .subquery()
    )
    counted = func.coalesce(LenderMonth.new_money, 0)
    return (
        select(pledged.c.lender_id, pledged.c.month, pledged.c.pledged, counted.label("counted"))
        .outerjoin(
            LenderMonth,
            and_(
                LenderMonth.lender_id == pledged.c.lender_id, LenderMonth.month == pledged.c.month
            ),
        )
        .where(pledged.c.pledged != counted)
    )


# -- projects ----------------------------------------------------------------------------------


def _projects_out_of_step() -> Violations:
    """Funded and repaid agree with the project's pledges and repayments, and its status
    with its figures: a loan is full once lent, repaid when all came back, lost only when
    defaulted."""
    pledged = (
        select(
            Pledge.project_id.label("project_id"),
            _sum(Pledge.amount).label("pledged"),
            _sum(Pledge.repaid).label("pledges_repaid"),
        )
        .group_by(Pledge.project_id)
        .subquery()
    )
    repaid = (
        select(Repayment.project_id.label("project_id"), _sum(Repayment.amount).label("repayments"))
        .group_by(Repayment.project_id)
        .subquery()
    )
    pledges = func.coalesce(pledged.c.pledged, 0)
    pledges_repaid = func.coalesce(pledged.c.pledges_repaid, 0)
    repayments = func.coalesce(repaid.c.repayments, 0)
    status = Project.status
    lent = status.in_((*LENT_STATUSES, ProjectStatus.REPAID, ProjectStatus.DEFAULTED))
    return (
        select(
            Project.id.label("project_id"),
            status.label("status"),
            Project.amount,
            Project.funded,
            pledges.label("pledged"),
            Project.repaid,
            repayments.label("repayments"),
            pledges_repaid.label("pledges_repaid"),
            Project.lost,
        )
        .outerjoin(pledged, pledged.c.project_id == Project.id)
        .outerjoin(repaid, repaid.c.project_id == Project.id)
        .where(
            or_(
                Project.funded != pledges,
                Project.repaid != repayments,
                Project.repaid != pledges_repaid,
                and_(lent, Project.funded != Project.amount),
                and_(status == ProjectStatus.FUNDRAISING, Project.funded >= Project.amount),
                and_(status == ProjectStatus.REPAID, Project.repaid != Project.funded),
                and_(
                    status != ProjectStatus.REPAID,
                    lent,
                    status != ProjectStatus.DEFAULTED,
                    Project.repaid >= Project.funded,
                ),
                and_(
                    status == ProjectStatus.DEFAULTED,
                    Project.lost != Project.funded - Project.repaid,
                ),
                and_(status != ProjectStatus.DEFAULTED, Project.lost != 0),
            )
        )
    )


def _repayment_transactions() -> Violations:
    """What each repayment transaction put into lenders' credit is what its repayments say."""
    recorded = (
        select(
            Repayment.transaction_id.label("transaction_id"),
            _sum(Repayment.amount).label("recorded"),
        )
        .group_by(Repayment.transaction_id)
        .subquery()
    )
    credited = (
        select(
            Posting.transaction_id.label("transaction_id"),
            _kind_sum(AccountKind.AVAILABLE).label("credited"),
        )
        .join(Account, Account.id == Posting.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
        .where(LedgerTransaction.kind == "repayment")
        .group_by(Posting.transaction_id)
        .subquery()
    )
    return (
        select(
            func.coalesce(recorded.c.transaction_id, credited.c.transaction_id).label(
                "transaction_id"
            ),
            func.coalesce(recorded.c.recorded, 0).label("recorded"),
            func.coalesce(credited.c.credited, 0).label("credited"),
        )
        .select_from(recorded)
        .join(credited, credited.c.transaction_id == recorded.c.transaction_id, full=True)
        .where(func.coalesce(recorded.c.recorded, 0) != func.coalesce(credited.c.credited, 0))
    )


# -- the programme's own accounts -------------------------------------------------------------


def _system_account(kind: AccountKind, expected: Select[Any]) -> Violations:
    want = expected.scalar_subquery()
    return select(
        Account.id.label("account_id"), Account.kind, Account.balance, want.label("expected")
    ).where(Account.lender_id.is_(None), Account.kind == kind, Account.balance != want)


def _payouts() -> Violations:
    return _system_account(AccountKind.PAYOUTS, select(_sum(PayoutRequest.amount)))


def _losses() -> Violations:
    return _system_account(AccountKind.LOSSES, select(_sum(Project.lost)))


RULES: tuple[Rule, ...] = (
    Rule("balanced", "every transaction's postings sum to zero", _unbalanced_transactions()),
    Rule("balances", "every account's balance is the sum of its postings", _stale_balances()),
    Rule("no_negative_money", "no lender's own money is below zero", _negative_lender_money()),
    Rule(
        "pledge_legs",
        "every posting's pledge exists, and a lender's own money moves with a pledge",
        _pledge_postings_elsewhere(),
    ),
    Rule(
        "pledge_postings",
        "each pledge moved exactly its credit, payroll, committed, outstanding and repaid money, "
        "on its own lender's accounts",
        _pledge_postings(),
    ),
    Rule(
        "committed",
        "each lender's committed money is their open pledges on fundraising projects",
        _lender_account(
            AccountKind.COMMITTED, _expected((ProjectStatus.FUNDRAISING,), Pledge.amount)
        ),
    ),
    Rule(
        "outstanding",
        "each lender's outstanding money is what they lent and were not repaid on live loans",
        _lender_account(
            AccountKind.OUTSTANDING, _expected(LENT_STATUSES, Pledge.amount - Pledge.repaid)
        ),
    ),
    Rule(
        "payroll",
        "each lender's payroll account is the payroll part of their pledges",
        _lender_account(AccountKind.PAYROLL, -Pledge.from_payroll),
    ),
    Rule(
        "refunds",
        "every pledge on an expired project is refunded, and none elsewhere",
        _refunds_out_of_step(),
    ),
    Rule(
        "projects",
        "each project's funded, repaid, lost and status agree with its pledges and repayments",
        _projects_out_of_step(),
    ),
    Rule(
        "repayments",
        "each repayment transaction credited lenders exactly its repayments",
        _repayment_transactions(),
    ),
    Rule(
        "monthly_cap",
        "the new money counted against each lender's monthly cap is their payroll pledges",
        _new_money_out_of_step(),
    ),
    Rule("payouts", "the payouts account equals the payout requests", _payouts()),
    Rule("losses", "the losses account equals the projects' losses", _losses()),
)


def alert_operators(
    factory: sessionmaker[Session], operators: Collection[str], *, now: datetime
) -> TickResult:
    """The daily reconciliation: when a rule is broken, every operator hears of it once a day
    (by DM, through the outbox). ``changed`` counts the broken rules."""
    with factory() as session:
        found = reconcile(session, shown=0)
    if found.ok or not operators:
        return TickResult(len(found.broken), 0)
    day = now.date().isoformat()
    payload = {
        "checked_on": day,
        "broken": [
            {"name": b.rule.name, "promise": b.rule.promise, "count": b.count} for b in found.broken
        ],
    }
    queued = 0
    with transaction(factory) as session:
        for operator in sorted(operators):
            queued += outbox.enqueue(
                session,
                dedupe_key=f"reconciliation:{day}:{operator}",
                kind=Kind.RECONCILIATION,
                payload=payload,
                now=now,
                channel_id=operator,
            )
    return TickResult(len(found.broken), queued)
