"""Repayments shared among a project's lenders, and defaults that move the rest to losses.

The sharing is set-based: one statement computes every lender's share of every instalment in a
batch with window functions, mirroring ``storage.repayments.sharing.apportion`` (the reference
rule that the tests compare it with), so a round of 10,000 repayments costs a handful of
statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from typing import Literal

from sqlalchemy import (
    CompoundSelect,
    case,
    column,
    func,
    insert,
    literal,
    select,
    table,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.proposals import Proposal, propose, require_proposed
from storage.db.unit_of_work import Outcome, Refusal, Refused, retrying, run
from storage.ledger.models import Account, AccountKind
from storage.ledger.money import format_money
from storage.ledger.postings import lock_in_order, post_rows
from storage.lending.models import Lender, Pledge
from storage.lending.rules import LeaverCredit, LendingRules
from storage.notifications import outbox
from storage.notifications.kinds import Kind
from storage.people.leavers import sweep_leaver_credit
from storage.projects.models import LENT_STATUSES, Project, ProjectStatus
from storage.repayments.models import Repayment

# Each lender's share: base = floor(pledge * instalment / total); the cents left over go, one
# each, to the lenders furthest behind their exact cumulative share (ties by pledge id), only
# to lenders with room left below what they lent; in the rare case that fewer lenders have
# room than cents are left, the rest fill remaining room in the same order. The window
# functions share one window and one frame, so the database sorts and walks each project's
# pledges once (a second frame is a second pass); the project totals are one GROUP BY. The
# window carries only the columns it needs: every other one would be sorted along.
SHARES_SQL = """
WITH d AS (
  SELECT pl.id AS pledge_id, pl.lender_id, pl.project_id, r.amount AS inst,
         (pl.amount * r.amount) / p.funded AS base,
         pl.amount - pl.repaid - (pl.amount * r.amount) / p.funded AS room,
         pl.amount * (p.repaid + r.amount)
           - p.funded * (pl.repaid + (pl.amount * r.amount) / p.funded) AS deficit
  FROM repayment_batch r
  JOIN projects p ON p.id = r.project_id
  JOIN pledges pl ON pl.project_id = r.project_id AND pl.refunded = false
), e AS (
  SELECT pledge_id, lender_id, project_id, base, room,
         ROW_NUMBER() OVER w AS rnk,
         SUM(CASE WHEN room > 1 THEN room - 1 ELSE 0 END) OVER w
           - CASE WHEN room > 1 THEN room - 1 ELSE 0 END AS extra_before
  FROM d
  WINDOW w AS (
    PARTITION BY project_id
    ORDER BY CASE WHEN room > 0 THEN 0 ELSE 1 END, deficit DESC, pledge_id
    ROWS UNBOUNDED PRECEDING
  )
), t AS (
  SELECT project_id, MIN(inst) - SUM(base) AS leftover,
         SUM(CASE WHEN room > 0 THEN 1 ELSE 0 END) AS eligible
  FROM d
  GROUP BY project_id
)
SELECT pledge_id, lender_id, e.project_id,
       base
       + CASE WHEN room > 0 AND rnk <= leftover THEN 1 ELSE 0 END
       + CASE
           WHEN leftover - eligible <= extra_before OR room <= 1 THEN 0
           WHEN leftover - eligible - extra_before < room - 1
             THEN leftover - eligible - extra_before
           ELSE room - 1
         END AS share
FROM e JOIN t ON t.project_id = e.project_id
"""

# Every accepted instalment of a round waits here until the round is shared out; ``round``
# numbers a project's second and later instalments of the same round.
PENDING = table(
    "repayment_pending",
    column("project_id"),
    column("amount"),
    column("paid_on"),
    column("reference"),
    column("round"),
)
# The instalments being shared now: at most one per project.
BATCH = table(
    "repayment_batch",
    column("project_id"),
    column("amount"),
    column("paid_on"),
    column("reference"),
)
SHARES = table(
    "repayment_shares",
    column("pledge_id"),
    column("lender_id"),
    column("project_id"),
    column("share"),
)


@dataclass(frozen=True)
class RepaymentInput:
    project_id: int
    amount: int
    paid_on: date
    reference: str


@dataclass(frozen=True)
class RepaymentResult:
    project_id: int
    amount: int
    transaction_id: int
    project_status: str
    # The day it was recorded (ISO) and its reference, kept to answer a replay; results kept
    # by an older release have neither.
    recorded_on: str = ""
    reference: str = ""


@dataclass(frozen=True)
class RepaymentPlan:
    """What recording one instalment would do: ``amount`` shared among ``lenders``, who are
    each told by DM; ``repays_in_full`` when it closes the loan as repaid."""

    project_id: int
    project_reference: str
    amount: int
    outstanding: int
    lenders: int

    @property
    def repays_in_full(self) -> bool:
        return self.amount == self.outstanding


@dataclass(frozen=True)
class BatchResult:
    recorded: int
    replayed: int
    refused: list[tuple[RepaymentInput, Refusal]]
    transaction_ids: list[int]


def plan_repayment(session: Session, item: RepaymentInput, rules: LendingRules) -> RepaymentPlan:
    """Every rule one instalment must pass, and whom it pays; the project stays locked."""
    _refuse_a_known_reference(session, item)
    projects = _project_states(session, [item.project_id])
    _check(projects, item, rules, pending=0)
    # The lenders the round shares it among, as SHARES_SQL picks them.
    lenders = session.execute(
        select(func.count(Pledge.lender_id.distinct())).where(
            Pledge.project_id == item.project_id, Pledge.refunded.is_(False)
        )
    ).scalar_one()
    state = projects[item.project_id]
    return RepaymentPlan(item.project_id, state.reference, item.amount, state.outstanding, lenders)


def propose_repayment(
    factory: sessionmaker[Session], proposal: Proposal, item: RepaymentInput, rules: LendingRules
) -> Outcome[RepaymentPlan]:
    """The instalment's plan, kept for the Confirm of ``proposal`` (``storage.db.proposals``)."""
    return propose(
        factory,
        proposal,
        "repayment",
        _proposed_params(item),
        lambda session: plan_repayment(session, item, rules),
        RepaymentPlan,
    )


def _repayment_params(item: RepaymentInput) -> dict[str, object]:
    # The same reference for the same project and amount is the same repayment, whatever day
    # it is told again.
    return {"project": item.project_id, "amount": item.amount}


def _proposed_params(item: RepaymentInput) -> dict[str, object]:
    # What the operator was shown includes the reference it will be recorded under.
    return {**_repayment_params(item), "reference": item.reference}


def record_repayment(
    factory: sessionmaker[Session],
    item: RepaymentInput,
    rules: LendingRules,
    *,
    now: datetime | None = None,
    proposal: Proposal | None = None,
) -> Outcome[RepaymentResult]:
    """Record one instalment from a partner; its reference is the idempotency key. With
    ``proposal``, only if it is still what that proposal showed."""
    moment = now or utcnow()
    params = _repayment_params(item)

    def body(session: Session) -> RepaymentResult:
        plan = plan_repayment(session, item, rules)
        if proposal is not None:
            require_proposed(session, proposal, "repayment", _proposed_params(item), plan)
        [transaction_id] = distribute(session, [item], moment, rules.leaver_credit)
        status = session.execute(
            select(Project.status).where(Project.id == item.project_id)
        ).scalar_one()
        return RepaymentResult(
            item.project_id,
            item.amount,
            transaction_id,
            status.value,
            moment.date().isoformat(),
            item.reference,
        )

    key = f"repayment:{item.reference}"
    outcome = run(factory, "repayment", key, params, body, RepaymentResult)
    if outcome.refusal is not None and outcome.refusal.code == "idempotency_conflict":
        # Said in the operator's words: their reference, not the key it is kept under.
        return Outcome(None, _reused_reference(item))
    return outcome


def record_repayments(
    factory: sessionmaker[Session],
    items: Sequence[RepaymentInput],
    rules: LendingRules,
    *,
    now: datetime | None = None,
    chunk_size: int = 1_000,
) -> BatchResult:
    """Record a whole round in one transaction, staged ``chunk_size`` items at a time. Bad
    items are refused, not fatal; a round that loses a deadlock is recorded again whole."""
    staged = list(items)  # read once: a round run again must see the same items
    return retrying(lambda: _record_round(factory, staged, rules, now=now, chunk_size=chunk_size))


def _record_round(
    factory: sessionmaker[Session],
    items: Sequence[RepaymentInput],
    rules: LendingRules,
    *,
    now: datetime | None,
    chunk_size: int,
) -> BatchResult:
    recorded, replayed = 0, 0
    refused: list[tuple[RepaymentInput, Refusal]] = []
    with repayment_round(factory, rules, now=now) as staging:
        iterator = iter(items)
        while chunk := list(islice(iterator, chunk_size)):
            for item, verdict in zip(chunk, staging.stage(chunk), strict=True):
                if isinstance(verdict, Refusal):
                    refused.append((item, verdict))
                elif verdict == "recorded":
                    recorded += 1
                else:
                    replayed += 1
    return BatchResult(recorded, replayed, refused, staging.transaction_ids)


# What became of one item of a round: staged to be recorded, a replay of one already recorded
# (or staged) with the same reference and facts, or refused.
Verdict = Literal["recorded", "replayed"] | Refusal


@contextmanager
def repayment_round(
    factory: sessionmaker[Session], rules: LendingRules, *, now: datetime | None = None
) -> Iterator[RepaymentRound]:
    """A round in one transaction: the caller stages instalments chunk by chunk, and when the
    block ends the round is shared out set-based (once per round of at most one instalment per
    project) and committed; ``transaction_ids`` then names its ledger transactions."""
    moment = now or utcnow()
    with factory() as session, session.begin():
        _room_to_sort(session)
        _start_pending(session)
        staging = RepaymentRound(session, rules)
        yield staging
        staging.transaction_ids = _share_pending(session, moment, rules.leaver_credit)


class RepaymentRound:
    """The instalments of a round being staged. What is already staged is asked of the
    database, never held here, so memory stays flat however large the round."""

    def __init__(self, session: Session, rules: LendingRules) -> None:
        # The round's own session, for whatever its caller must read in the same transaction.
        self.session = session
        self.transaction_ids: list[int] = []
        self._rules = rules

    def stage(self, chunk: Sequence[RepaymentInput]) -> list[Verdict]:
        """Check a chunk against the database and what the round already holds, and stage the
        items that may be recorded; one verdict per item, in order."""
        session = self.session
        known = _known_references(session, [item.reference for item in chunk])
        projects = _project_states(session, [item.project_id for item in chunk])
        staged = _staged(session, [item.project_id for item in chunk])
        rounds_before = {project: before.count for project, before in staged.items()}
        accepted: list[RepaymentInput] = []
        verdicts: list[Verdict] = []
        for item in chunk:
            verdict = self._verdict(item, known, projects, staged)
            if verdict == "recorded":
                staged[item.project_id] = staged[item.project_id].plus(item.amount)
                known[item.reference] = (item.project_id, item.amount, item.paid_on)
                accepted.append(item)
            verdicts.append(verdict)
        _stage(session, accepted, rounds_before)
        return verdicts

    def _verdict(
        self,
        item: RepaymentInput,
        known: dict[str, tuple[int, int, date]],
        projects: dict[int, _ProjectState],
        staged: defaultdict[int, _Staged],
    ) -> Verdict:
        earlier = known.get(item.reference)
        if earlier is not None:
            same = earlier == (item.project_id, item.amount, item.paid_on)
            return "replayed" if same else _reused_reference(item)
        try:
            _check(projects, item, self._rules, pending=staged[item.project_id].amount)
        except Refused as refusal:
            return refusal.refusal
        return "recorded"


@dataclass(frozen=True)
class _Staged:
    """A project's instalments already staged in this round: how much, and how many."""

    amount: int = 0
    count: int = 0

    def plus(self, amount: int) -> _Staged:
        return _Staged(self.amount + amount, self.count + 1)


def _staged(session: Session, project_ids: list[int]) -> defaultdict[int, _Staged]:
    rows = session.execute(
        select(PENDING.c.project_id, func.sum(PENDING.c.amount), func.count())
        .where(PENDING.c.project_id.in_(sorted(set(project_ids))))
        .group_by(PENDING.c.project_id)
    )
    staged: defaultdict[int, _Staged] = defaultdict(_Staged)
    staged.update({project: _Staged(int(amount), count) for project, amount, count in rows})
    return staged


def _refuse_a_known_reference(session: Session, item: RepaymentInput) -> None:
    """A reference recorded another way (a partner's report) is not recorded again."""
    earlier = session.execute(
        select(Repayment.project_id, Repayment.amount, Repayment.created_at).where(
            Repayment.reference == item.reference
        )
    ).first()
    if earlier is None:
        return
    project_id, amount, recorded_at = earlier
    if (project_id, amount) != (item.project_id, item.amount):
        raise Refused(_reused_reference(item).code, _reused_reference(item).message)
    raise Refused(
        "already_recorded",
        f"The repayment {item.reference!r} was already recorded on "
        f"{recorded_at.date().isoformat()}; nothing was paid again.",
    )


def _reused_reference(item: RepaymentInput) -> Refusal:
    return Refusal(
        "idempotency_conflict",
        f"The reference {item.reference!r} was already used for a different repayment.",
    )


def _known_references(session: Session, references: list[str]) -> dict[str, tuple[int, int, date]]:
    known: dict[str, tuple[int, int, date]] = {}
    for start in range(0, len(references), 500):
        chunk = references[start : start + 500]
        recorded = select(
            Repayment.reference, Repayment.project_id, Repayment.amount, Repayment.paid_on
        ).where(Repayment.reference.in_(chunk))
        staged = select(
            PENDING.c.reference, PENDING.c.project_id, PENDING.c.amount, PENDING.c.paid_on
        ).where(PENDING.c.reference.in_(chunk))
        for ref, project, amount, paid in session.execute(union_all(recorded, staged)):
            known[ref] = (project, amount, _as_date(paid))
    return known


def _as_date(value: date | str) -> date:
    # SQLite hands a temporary table's dates back as the ISO text they were stored as.
    return value if isinstance(value, date) else date.fromisoformat(value)


@dataclass(frozen=True)
class _ProjectState:
    reference: str
    status: ProjectStatus
    outstanding: int


def _project_states(session: Session, project_ids: list[int]) -> dict[int, _ProjectState]:
    """What validation needs of each project, loaded in chunks rather than one by one.

    The rows stay locked until the round commits: a default recorded meanwhile would
    otherwise leave these figures stale (it waits, then finds the repayments recorded).
    """
    wanted = sorted(set(project_ids))
    states: dict[int, _ProjectState] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(
                Project.id,
                Project.reference,
                Project.status,
                Project.funded - Project.repaid - Project.lost,
            )
            .where(Project.id.in_(wanted[start : start + 500]))
            .order_by(Project.id)
            .with_for_update()
        )
        states.update({row[0]: _ProjectState(*row[1:]) for row in rows})
    return states


def _check(
    projects: dict[int, _ProjectState], item: RepaymentInput, rules: LendingRules, *, pending: int
) -> None:
    project = projects.get(item.project_id)
    if project is None:
        raise Refused("unknown_project", "There is no such project.")
    outstanding = project.outstanding - pending
    # Instalments staged earlier in the round that repay the loan leave it repaid for the
    # later ones, as recording them one at a time would.
    status = ProjectStatus.REPAID if pending and outstanding <= 0 else project.status
    if status not in LENT_STATUSES:
        raise Refused(
            "not_repaying",
            f"{project.reference} is {status.value}; only funded loans are repaid.",
        )
    if not 0 < item.amount <= outstanding:
        raise Refused(
            "over_outstanding",
            f"{project.reference} has {format_money(outstanding, rules.currency)} outstanding; "
            f"a repayment must be positive and at most that.",
        )


def distribute(
    session: Session, items: Sequence[RepaymentInput], now: datetime, leaver_credit: LeaverCredit
) -> list[int]:
    """Share checked instalments among their lenders; the ledger transaction of each round."""
    _start_pending(session)
    _stage(session, list(items), {})
    return _share_pending(session, now, leaver_credit)


def _room_to_sort(session: Session) -> None:
    # A round sorts its postings by account to move the balances; at 250,000 pledges that
    # spills to disk on PostgreSQL's default 4 MB. SET LOCAL ends with the transaction.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '64MB'"))


def _start_pending(session: Session) -> None:
    _drop_temp_tables(session)
    session.execute(
        text(
            "CREATE TEMP TABLE repayment_pending (project_id BIGINT, amount BIGINT, paid_on DATE,"
            " reference VARCHAR(200) PRIMARY KEY, round INTEGER)"
        )
    )
    session.execute(
        text("CREATE INDEX repayment_pending_project ON repayment_pending (project_id)")
    )


def _stage(session: Session, items: list[RepaymentInput], rounds_before: dict[int, int]) -> None:
    """Add items to the round; a project's later instalments go to later rounds."""
    rows, rounds = [], dict(rounds_before)
    for item in items:
        number = rounds.get(item.project_id, 0)
        rows.append(
            {
                "project_id": item.project_id,
                "amount": item.amount,
                "paid_on": item.paid_on,
                "reference": item.reference,
                "round": number,
            }
        )
        rounds[item.project_id] = number + 1
    if rows:
        session.execute(insert(PENDING), rows)


def _share_pending(session: Session, now: datetime, leaver_credit: LeaverCredit) -> list[int]:
    rounds = session.execute(select(func.coalesce(func.max(PENDING.c.round) + 1, 0))).scalar_one()
    # Each round posts on its own; when there are several, taking every account they move at
    # once, in order, keeps a later round from waiting on an account with a lower id than one
    # it holds. A single round does without: ordering 500,000 locks costs a fifth of the round,
    # and the rare deadlock it would avoid makes the round run again (``retrying``).
    if rounds > 1:
        lock_in_order(
            session,
            select(Account.id)
            .join(Pledge, Pledge.lender_id == Account.lender_id)
            .where(Pledge.project_id.in_(select(PENDING.c.project_id)))
            .where(Account.kind.in_((AccountKind.OUTSTANDING, AccountKind.AVAILABLE))),
        )
    transactions = []
    for number in range(rounds):
        session.execute(
            text(
                "CREATE TEMP TABLE repayment_batch AS SELECT project_id, amount, paid_on, reference"
                " FROM repayment_pending WHERE round = :round"
            ),
            {"round": number},
        )
        transactions.append(_share_batch(session, now))
        session.execute(text("DROP TABLE repayment_batch"))
    _drop_temp_tables(session)
    # What reached the credit of people who left goes on to them (or the grant pool) at once.
    sweep_leaver_credit(session, leaver_credit, now=now)
    return transactions


def _share_batch(session: Session, now: datetime) -> int:
    """Share one instalment per project among its lenders; returns the ledger transaction."""
    session.execute(text("CREATE TEMP TABLE repayment_shares AS " + SHARES_SQL))
    # Taken in order up front when there are several rounds; otherwise left to the UPDATE.
    transaction_id = post_rows(session, "repayment", _share_legs(), now=now, lock_accounts=False)
    session.execute(
        insert(Repayment).from_select(
            ["project_id", "amount", "paid_on", "reference", "transaction_id", "created_at"],
            select(
                BATCH.c.project_id,
                BATCH.c.amount,
                BATCH.c.paid_on,
                BATCH.c.reference,
                literal(transaction_id),
                literal(now),
            ),
        )
    )
    _apply_to_pledges_and_projects(session, now)
    outbox.enqueue_select(
        session,
        kind=Kind.REPAYMENT,
        targets=_repayment_targets(transaction_id),
        payload={"transaction_id": transaction_id},
        now=now,
    )
    finished = select(Project.id).where(
        Project.id.in_(select(BATCH.c.project_id)), Project.status == ProjectStatus.REPAID
    )
    outbox.enqueue_select(
        session,
        kind=Kind.CIRCLE_REPAID,
        targets=outbox.circle_targets(Kind.CIRCLE_REPAID, finished),
        payload={},
        now=now,
    )
    session.execute(text("DROP TABLE repayment_shares"))
    return transaction_id


def _drop_temp_tables(session: Session) -> None:
    # Temporary tables live as long as the connection, which the pool reuses.
    for name in ("repayment_shares", "repayment_batch", "repayment_pending"):
        session.execute(text(f"DROP TABLE IF EXISTS {name}"))


def _share_legs() -> CompoundSelect[int, int, int]:
    """Two legs per share: out of the lender's outstanding, into their available credit."""
    legs = []
    for kind, sign in ((AccountKind.OUTSTANDING, -1), (AccountKind.AVAILABLE, 1)):
        legs.append(
            select(
                Account.id.label("account_id"),
                (sign * SHARES.c.share).label("amount"),
                SHARES.c.pledge_id.label("pledge_id"),
            )
            .select_from(SHARES)
            .join(Account, (Account.lender_id == SHARES.c.lender_id) & (Account.kind == kind))
            .where(SHARES.c.share > 0)
        )
    return union_all(*legs)


def _apply_to_pledges_and_projects(session: Session, now: datetime) -> None:
    session.execute(
        update(Pledge)
        .where(Pledge.id == SHARES.c.pledge_id, SHARES.c.share > 0)
        .values(repaid=Pledge.repaid + SHARES.c.share)
        .execution_options(synchronize_session=False)
    )
    done = Project.repaid + BATCH.c.amount >= Project.funded - Project.lost
    session.execute(
        update(Project)
        .where(Project.id == BATCH.c.project_id)
        .values(
            repaid=Project.repaid + BATCH.c.amount,
            status=case(
                (done, literal(ProjectStatus.REPAID.value)),
                else_=literal(ProjectStatus.REPAYING.value),
            ),
            closed_at=case((done, literal(now)), else_=Project.closed_at),
            delinquent_since=None,
        )
        .execution_options(synchronize_session=False)
    )


def _repayment_targets(transaction_id: int) -> outbox.Targets:
    """One message per lender paid in this transaction: a round is one DM, not one per loan."""
    return select(
        outbox.key(f"repayment:{transaction_id}", Lender.id).label("dedupe_key"),
        Lender.workspace_id.label("workspace_id"),
        Lender.id.label("lender_id"),
        outbox.no_text().label("channel_id"),
        outbox.no_id().label("project_id"),
        outbox.no_id().label("circle_id"),
    ).where(Lender.id.in_(select(SHARES.c.lender_id)))
