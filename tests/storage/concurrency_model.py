"""A model of the programme under concurrent use: every money operation at once, then the books.

Threads (and, in the benchmark, processes that get killed) run a seeded random mix of what
lenders, partners, operators and jobs do: pledges (with replays of confirmed keys, and clocks
straddling deadlines), two expiry runners, repayments one by one and in rounds, defaults,
withdrawals, grants, auto-relend, project imports and the finance exports. Refusals are
expected and counted; exceptions are not. Whatever happened, the reconciliation
(`storage.ledger.reconciliation`) must then find nothing: that is the claim the model tests.
"""

from __future__ import annotations

import io
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from storage.db.database import Database
from storage.db.unit_of_work import Outcome
from storage.finance.exports import claim_payouts, claim_payroll
from storage.lending.autolend import run_autolend
from storage.lending.credit import grant_credit, withdraw
from storage.lending.lenders import SlackIdentity, choose_autolend, meet_lender
from storage.lending.models import Lender
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.importers.loader import ProjectFormat, import_projects
from storage.projects.lifecycle import default_project, expire_due_projects
from storage.projects.models import Project, ProjectStatus
from storage.repayments.recording import RepaymentInput, record_repayment, record_repayments

RULES = LendingRules(min_pledge=5_00, monthly_cap=5_000_00)
GENERIC_HEADER = (
    "external_id,borrower,purpose,country_code,country,sector,activity,amount,"
    "term_months,repayment_interval,partner_id,deadline\n"
)


@dataclass
class Tally:
    """How many operations ran, by kind and outcome."""

    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, outcome: str) -> None:
        with self.lock:
            self.counts[f"{kind}:{outcome}"] += 1

    @property
    def operations(self) -> int:
        return sum(self.counts.values())


@dataclass
class Programme:
    """The lenders and projects the model acts on, and the clock it straddles."""

    db: Database
    start: datetime
    lenders: list[int]
    projects: list[int]
    imported: int = 0
    confirmed: list[tuple[str, PledgeRequest]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def set_up(db: Database, *, lenders: int, projects: int, start: datetime) -> Programme:
    """Lenders with some credit (a few on auto-relend) and projects, half of whose deadlines
    fall inside the model's hour, so that expiry races pledges for them."""
    ids = [
        meet_lender(db.sessions, SlackIdentity(f"U{number:08d}", "T0MODEL"), now=start)
        for number in range(lenders)
    ]
    for lender in ids:
        assert grant_credit(db.sessions, lender, 200_00, key=f"w{lender}", reason="welcome").ok
    for lender in ids[::4]:
        assert choose_autolend(db.sessions, lender, on=True, country=None, sector=None).ok
    data = "".join(_project_line(number, start) for number in range(projects))
    report = import_projects(
        db.sessions,
        io.BytesIO((GENERIC_HEADER + data).encode()),
        RULES,
        fmt=ProjectFormat.CSV,
        now=start,
    )
    assert report.loaded == projects, report
    with db.sessions() as session:
        found = list(session.execute(select(Project.id).order_by(Project.id)).scalars())
    return Programme(db, start, ids, found, imported=projects)


def load(db: Database, *, start: datetime, worker: int) -> Programme:
    """The programme ``set_up`` made, as another process finds it; the projects a worker
    imports are numbered apart from every other worker's."""
    with db.sessions() as session:
        lenders = list(session.execute(select(Lender.id).order_by(Lender.id)).scalars())
        projects = list(session.execute(select(Project.id).order_by(Project.id)).scalars())
    return Programme(db, start, lenders, projects, imported=1_000_000 * (worker + 1))


def _project_line(number: int, start: datetime) -> str:
    amount = 30 + (number * 37) % 120
    # Half the deadlines fall inside the model's hour, where expiry races the pledges.
    deadline = start + timedelta(minutes=5 + (number * 11) % 110)
    return (
        f"M{number},Borrower {number},to grow,PE,Peru,Retail,Shop,{amount}.00,"
        f"6,monthly,MFI-M,{deadline.isoformat()}\n"
    )


Operation = Callable[[Programme, random.Random, Tally], None]


def _moment(programme: Programme, rng: random.Random) -> datetime:
    # Within the model's hour: each operation sees some deadlines passed and others not.
    return programme.start + timedelta(seconds=rng.uniform(0, 3600))


def _counted(kind: str, outcome: Outcome[object], tally: Tally) -> None:
    if outcome.refusal is not None:
        tally.note(kind, outcome.refusal.code)
    else:
        tally.note(kind, "replayed" if outcome.replayed else "done")


def lend(programme: Programme, rng: random.Random, tally: Tally) -> None:
    request = PledgeRequest(
        rng.choice(programme.lenders),
        rng.choice(programme.projects),
        rng.choice((5_00, 10_00, 20_00, 25_00, 40_00)),
    )
    key = f"pledge:{rng.getrandbits(64):x}"
    outcome = pledge(programme.db.sessions, request, RULES, key=key, now=_moment(programme, rng))
    _counted("pledge", outcome, tally)
    if outcome.ok:
        with programme.lock:
            programme.confirmed.append((key, request))


def replay(programme: Programme, rng: random.Random, tally: Tally) -> None:
    """A confirm delivered again (a double click, Slack's retry, a replayed request)."""
    with programme.lock:
        if not programme.confirmed:
            tally.note("replay", "nothing")
            return
        key, request = rng.choice(programme.confirmed)
    outcome = pledge(programme.db.sessions, request, RULES, key=key, now=_moment(programme, rng))
    assert outcome.replayed or outcome.refusal is not None, "a replay made a second pledge"
    _counted("replay", outcome, tally)


def expire(programme: Programme, rng: random.Random, tally: Tally) -> None:
    result = expire_due_projects(programme.db.sessions, now=_moment(programme, rng))
    tally.note("expire", "done" if result.expired_projects else "nothing")


def _lent(programme: Programme, rng: random.Random) -> Project | None:
    with programme.db.sessions() as session:
        found = session.execute(
            select(Project).where(
                Project.status.in_((ProjectStatus.FUNDED, ProjectStatus.REPAYING))
            )
        ).scalars()
        lent = list(found)
    return rng.choice(lent) if lent else None


def repay(programme: Programme, rng: random.Random, tally: Tally) -> None:
    project = _lent(programme, rng)
    if project is None:
        tally.note("repay", "nothing")
        return
    owed = project.funded - project.repaid - project.lost
    amount = max(1, min(owed, rng.randint(1, max(project.amount // 3, 1))))
    item = RepaymentInput(project.id, amount, date(2026, 1, 1), f"r{rng.getrandbits(48):x}")
    _counted("repay", record_repayment(programme.db.sessions, item, RULES), tally)


def repay_round(programme: Programme, rng: random.Random, tally: Tally) -> None:
    items = []
    for _ in range(rng.randint(1, 4)):
        project = _lent(programme, rng)
        if project is not None:
            items.append(
                RepaymentInput(
                    project.id, rng.randint(1, 500), date(2026, 1, 1), f"b{rng.getrandbits(48):x}"
                )
            )
    result = record_repayments(programme.db.sessions, items, RULES)
    tally.note("round", f"{result.recorded} recorded")


def default(programme: Programme, rng: random.Random, tally: Tally) -> None:
    project = _lent(programme, rng)
    if project is None or rng.random() < 0.7:
        tally.note("default", "nothing")
        return
    key = f"default:{project.id}:{rng.randint(0, 1)}"
    _counted(
        "default",
        default_project(programme.db.sessions, project.id, reason="model", key=key),
        tally,
    )


def take_out(programme: Programme, rng: random.Random, tally: Tally) -> None:
    amount = rng.choice((None, 5_00, 30_00))
    key = f"withdraw:{rng.getrandbits(64):x}"
    _counted(
        "withdraw",
        withdraw(programme.db.sessions, rng.choice(programme.lenders), amount, key=key),
        tally,
    )


def grant(programme: Programme, rng: random.Random, tally: Tally) -> None:
    key = f"grant:{rng.randint(0, 30)}"  # the same key again is a replay
    outcome = grant_credit(
        programme.db.sessions, rng.choice(programme.lenders[:5]), 10_00, key=key, reason="match"
    )
    _counted("grant", outcome, tally)


def autolend(programme: Programme, rng: random.Random, tally: Tally) -> None:
    result = run_autolend(programme.db.sessions, RULES, now=_moment(programme, rng))
    tally.note("autolend", f"{result.pledges} pledges")


def import_more(programme: Programme, rng: random.Random, tally: Tally) -> None:
    with programme.lock:
        number = programme.imported
        programme.imported += 1
    line = _project_line(number, _moment(programme, rng))
    report = import_projects(
        programme.db.sessions,
        io.BytesIO((GENERIC_HEADER + line).encode()),
        RULES,
        fmt=ProjectFormat.CSV,
        now=programme.start,
    )
    tally.note("import", f"{report.loaded} loaded")


def export(programme: Programme, rng: random.Random, tally: Tally) -> None:
    if rng.random() < 0.5:
        claim_payroll(programme.db.sessions, programme.start.strftime("%Y-%m"), now=programme.start)
        tally.note("export", "payroll")
    else:
        batch = claim_payouts(programme.db.sessions, now=_moment(programme, rng))
        tally.note("export", "payouts" if batch else "no payouts")


# Each operation with its weight in the mix.
MIX: tuple[tuple[Operation, int], ...] = (
    (lend, 30),
    (replay, 8),
    (expire, 6),
    (repay, 10),
    (repay_round, 4),
    (default, 3),
    (take_out, 8),
    (grant, 4),
    (autolend, 3),
    (import_more, 2),
    (export, 3),
)


def run_mix(programme: Programme, *, operations: int, threads: int, seed: int) -> Tally:
    """``operations`` seeded random operations on ``threads`` threads at once."""
    tally = Tally()
    chooser = random.Random(seed)
    kinds = [op for op, _ in MIX]
    weights = [weight for _, weight in MIX]
    plan = [
        (chooser.choices(kinds, weights)[0], chooser.getrandbits(64)) for _ in range(operations)
    ]
    with ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(op, programme, random.Random(op_seed), tally) for op, op_seed in plan
        ]
        for future in futures:
            future.result(timeout=120)
    # Whatever is still due expires now, from two runners at once.
    later = programme.start + timedelta(hours=2)
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(expire_due_projects, programme.db.sessions, now=later) for _ in "ab"]
        for run in runs:
            run.result(timeout=120)
    return tally
