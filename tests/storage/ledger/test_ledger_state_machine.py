"""Random sequences of every lending operation, checked against a plain in-memory model.

After every step: all postings sum to zero, every stored balance equals the sum of its
postings, no lender's money is negative, ``0 <= funded <= amount``, and the database agrees
with the model on every balance, project and pledge. Replays change nothing.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import select

from storage.db.database import Database, open_database
from storage.db.engine import make_engine
from storage.db.migrate import upgrade
from storage.ledger.models import Account, AccountKind
from storage.lending.autolend import run_autolend
from storage.lending.credit import grant_credit, withdraw
from storage.lending.models import Lender, Pledge
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.lifecycle import default_project, expire_due_projects
from storage.projects.models import Project, ProjectStatus
from storage.repayments.recording import RepaymentInput, record_repayment
from storage.repayments.sharing import PledgeState, apportion
from tests.factories import make_lender, make_project
from tests.reconciled import assert_reconciled

RULES = LendingRules(min_pledge=20_00, monthly_cap=300_00, fundraising_days=30)
START = datetime(2026, 3, 1, 12, 0)
LENDERS, PROJECTS = 4, 4


@cache
def template() -> Path:
    path = Path(tempfile.mkdtemp()) / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@dataclass
class ModelPledge:
    pledge_id: int
    lender: int
    amount: int
    repaid: int = 0
    refunded: bool = False


@dataclass
class ModelProject:
    amount: int
    deadline: datetime
    funded: int = 0
    repaid: int = 0
    lost: int = 0
    status: ProjectStatus = ProjectStatus.FUNDRAISING
    pledges: list[ModelPledge] = field(default_factory=list)


@dataclass
class ModelLender:
    available: int = 0
    committed: int = 0
    outstanding: int = 0
    new_money: dict[str, int] = field(default_factory=dict)


class LendingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        directory = Path(tempfile.mkdtemp())
        shutil.copy(template(), directory / "m.db")
        self.db: Database = open_database(f"sqlite:///{directory / 'm.db'}", auto_upgrade=False)
        self.now = START
        self.keys = itertools.count()
        self.lenders = {make_lender(self.db): ModelLender() for _ in range(LENDERS)}
        amounts = [40_00, 60_00, 45_50, 100_01]
        self.projects = {
            make_project(self.db, amount, deadline=START + timedelta(days=15 * (i + 1))): None
            for i, amount in enumerate(amounts)
        }
        self.model = {
            project_id: ModelProject(amount, START + timedelta(days=15 * (i + 1)))
            for i, (project_id, amount) in enumerate(zip(self.projects, amounts, strict=True))
        }
        self.last: tuple[str, object, object] | None = None

    def teardown(self) -> None:
        self.db.dispose()

    def lender(self, index: int) -> int:
        return list(self.lenders)[index % LENDERS]

    def project(self, index: int) -> int:
        return list(self.model)[index % PROJECTS]

    # --- operations -----------------------------------------------------------------------

    @rule(who=st.integers(0, 9), amount=st.integers(1, 200_00))
    def grant(self, who: int, amount: int) -> None:
        lender = self.lender(who)
        outcome = grant_credit(
            self.db.sessions, lender, amount, key=f"g{next(self.keys)}", reason="t", now=self.now
        )
        assert outcome.ok
        self.lenders[lender].available += amount

    @rule(
        who=st.integers(0, 9),
        which=st.integers(0, 9),
        amount=st.one_of(st.sampled_from([20_00, 20_01, 25_50, 33_33]), st.integers(1, 120_00)),
        credit_only=st.sampled_from([False, False, True]),
    )
    def lend(self, who: int, which: int, amount: int, credit_only: bool) -> None:
        self.lend_at(who, which, amount, credit_only, self.now)

    def lend_at(
        self, who: int, which: int, amount: int, credit_only: bool, moment: datetime
    ) -> None:
        lender, project_id = self.lender(who), self.project(which)
        key = f"p{next(self.keys)}"
        request = PledgeRequest(lender, project_id, amount, credit_only=credit_only)
        outcome = pledge(self.db.sessions, request, RULES, key=key, now=moment)
        expected = self.model_pledge(lender, project_id, amount, credit_only, moment)
        assert outcome.ok == (expected is not None), outcome.refusal
        if outcome.ok and expected is not None:
            result = outcome.value()
            assert (result.from_credit, result.from_payroll) == expected
            self.apply_pledge(lender, project_id, amount, result.pledge_id, expected, moment)
            self.last = ("pledge", request, key)

    @rule(who=st.integers(0, 9), which=st.integers(0, 9), first=st.integers(20_00, 30_00))
    def lend_together(self, who: int, which: int, first: int) -> None:
        """Two lenders fill a project: one pledge, then whatever is left."""
        self.lend(who, which, first, credit_only=False)
        project = self.model[self.project(which)]
        self.lend(who + 1, which, max(project.amount - project.funded, 1), credit_only=False)

    def model_pledge(
        self, lender: int, project_id: int, amount: int, credit_only: bool, moment: datetime
    ) -> tuple[int, int] | None:
        project, account = self.model[project_id], self.lenders[lender]
        needed = project.amount - project.funded
        if project.status != ProjectStatus.FUNDRAISING or project.deadline <= moment:
            return None
        if amount > needed or (amount < RULES.min_pledge and amount != needed):
            return None
        from_credit = min(account.available, amount)
        from_payroll = amount - from_credit
        if from_payroll and credit_only:
            return None
        month = moment.strftime("%Y-%m")
        if account.new_money.get(month, 0) + from_payroll > RULES.monthly_cap:
            return None
        return from_credit, from_payroll

    def apply_pledge(
        self,
        lender: int,
        project_id: int,
        amount: int,
        pledge_id: int,
        split: tuple[int, int],
        moment: datetime,
    ) -> None:
        project, account = self.model[project_id], self.lenders[lender]
        month = moment.strftime("%Y-%m")
        account.new_money[month] = account.new_money.get(month, 0) + split[1]
        account.available -= split[0]
        project.funded += amount
        project.pledges.append(ModelPledge(pledge_id, lender, amount))
        if project.funded < project.amount:
            account.committed += amount
            return
        account.committed += amount
        project.status = ProjectStatus.FUNDED
        for item in project.pledges:
            self.lenders[item.lender].committed -= item.amount
            self.lenders[item.lender].outstanding += item.amount

    @precondition(lambda self: self.last is not None)
    @rule()
    def replay_last(self) -> None:
        assert self.last is not None
        _, request, key = self.last
        assert isinstance(request, PledgeRequest) and isinstance(key, str)
        outcome = pledge(self.db.sessions, request, RULES, key=key, now=self.now)
        assert outcome.ok and outcome.replayed

    @rule(which=st.integers(0, 9), fraction=st.integers(1, 100), tiny=st.booleans())
    def repay(self, which: int, fraction: int, tiny: bool) -> None:
        project_id = self.project(which)
        project = self.model[project_id]
        outstanding = project.funded - project.repaid - project.lost
        amount = 1 if tiny else max(1, outstanding * fraction // 100)
        item = RepaymentInput(project_id, amount, date(2026, 4, 1), f"r{next(self.keys)}")
        outcome = record_repayment(self.db.sessions, item, RULES, now=self.now)
        lent = project.status in (ProjectStatus.FUNDED, ProjectStatus.REPAYING)
        assert outcome.ok == (lent and 0 < amount <= outstanding), outcome.refusal
        if not outcome.ok:
            return
        live = [p for p in project.pledges if not p.refunded]
        states = [PledgeState(p.pledge_id, p.amount, p.repaid) for p in live]
        shares = apportion(amount, states, loan_total=project.funded, repaid_before=project.repaid)
        for item_pledge, share in zip(live, shares, strict=True):
            item_pledge.repaid += share
            self.lenders[item_pledge.lender].outstanding -= share
            self.lenders[item_pledge.lender].available += share
        project.repaid += amount
        event(f"repayment shared among {len(live)} pledges")
        done = project.repaid == project.funded
        project.status = ProjectStatus.REPAID if done else ProjectStatus.REPAYING

    @rule(which=st.integers(0, 9))
    def default(self, which: int) -> None:
        project_id = self.project(which)
        project = self.model[project_id]
        outcome = default_project(
            self.db.sessions, project_id, reason="drought", key=f"d{next(self.keys)}", now=self.now
        )
        lent = project.status in (ProjectStatus.FUNDED, ProjectStatus.REPAYING)
        assert outcome.ok == lent
        if not lent:
            return
        for item in project.pledges:
            self.lenders[item.lender].outstanding -= item.amount - item.repaid
        project.lost = project.funded - project.repaid
        project.status = ProjectStatus.DEFAULTED

    @rule(days=st.integers(1, 6))
    def advance_and_expire(self, days: int) -> None:
        self.now += timedelta(days=days)
        self.expire_at(self.now)

    @rule(
        who=st.integers(0, 9),
        which=st.integers(0, 9),
        amount=st.sampled_from([20_00, 25_50]),
        seconds=st.integers(-2, 2),
    )
    def lend_at_the_deadline(self, who: int, which: int, amount: int, seconds: int) -> None:
        """A pledge whose clock reads a moment either side of the deadline, whether or not an
        expiry has already run (the interleavings of a pledge and an expiry)."""
        deadline = self.model[self.project(which)].deadline
        self.lend_at(who, which, amount, False, deadline + timedelta(seconds=seconds))

    @rule(which=st.integers(0, 9), seconds=st.integers(-2, 2))
    def expire_at_the_deadline(self, which: int, seconds: int) -> None:
        """An expiry whose clock reads a moment either side of one project's deadline."""
        self.expire_at(self.model[self.project(which)].deadline + timedelta(seconds=seconds))

    def expire_at(self, moment: datetime) -> None:
        expire_due_projects(self.db.sessions, now=moment)
        for project in self.model.values():
            if project.status == ProjectStatus.FUNDRAISING and project.deadline <= moment:
                project.status = ProjectStatus.EXPIRED
                for item in project.pledges:
                    item.refunded = True
                    self.lenders[item.lender].committed -= item.amount
                    self.lenders[item.lender].available += item.amount

    @rule(who=st.integers(0, 9), amount=st.one_of(st.none(), st.integers(1, 300_00)))
    def take_out(self, who: int, amount: int | None) -> None:
        lender = self.lender(who)
        outcome = withdraw(
            self.db.sessions, lender, amount, key=f"w{next(self.keys)}", now=self.now
        )
        available = self.lenders[lender].available
        wanted = available if amount is None else amount
        assert outcome.ok == (0 < wanted <= available)
        if outcome.ok:
            self.lenders[lender].available -= wanted

    @rule(who=st.integers(0, 9))
    def opt_into_autolend(self, who: int) -> None:
        lender = self.lender(who)
        with self.db.sessions() as session, session.begin():
            found = session.get(Lender, lender)
            assert found is not None
            found.autolend = True

    @rule()
    def autolend(self) -> None:
        run_autolend(self.db.sessions, RULES, now=self.now)
        self.sync_from_database_after_autolend()

    def sync_from_database_after_autolend(self) -> None:
        """Autolend chooses projects itself; the model learns its pledges and re-applies them."""
        with self.db.sessions() as session:
            rows = session.execute(
                select(Pledge.id, Pledge.lender_id, Pledge.project_id, Pledge.amount)
            ).all()
        known = {p.pledge_id for project in self.model.values() for p in project.pledges}
        for pledge_id, lender, project_id, amount in rows:
            if pledge_id not in known:
                self.apply_pledge(lender, project_id, amount, pledge_id, (amount, 0), self.now)

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def ledger_is_sound(self) -> None:
        assert_reconciled(self.db)

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        with self.db.sessions() as session:
            balances = {
                (lender, kind): amount
                for lender, kind, amount in session.execute(
                    select(Account.lender_id, Account.kind, Account.balance).where(
                        Account.lender_id.is_not(None)
                    )
                )
            }
            projects = {p.id: p for p in session.execute(select(Project)).scalars()}
            pledges = dict(session.execute(select(Pledge.id, Pledge.repaid)).all())
        for lender, model in self.lenders.items():
            assert balances[(lender, AccountKind.AVAILABLE)] == model.available
            assert balances[(lender, AccountKind.COMMITTED)] == model.committed
            assert balances[(lender, AccountKind.OUTSTANDING)] == model.outstanding
        for project_id, expected in self.model.items():
            stored = projects[project_id]
            assert 0 <= stored.funded <= stored.amount
            assert (stored.funded, stored.repaid, stored.lost) == (
                expected.funded,
                expected.repaid,
                expected.lost,
            )
            assert stored.status == expected.status
            for item in expected.pledges:
                assert pledges[item.pledge_id] == item.repaid


LendingMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
test_lending_state_machine = LendingMachine.TestCase
