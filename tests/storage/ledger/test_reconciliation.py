"""The reconciliation finds nothing on books the operations wrote, and names every row an
inconsistency touches, rule by rule, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.ledger.accounts import lender_accounts, system_account
from storage.ledger.models import Account, AccountKind, Posting
from storage.ledger.postings import Leg, new_transaction, post
from storage.ledger.reconciliation import RULES, alert_operators, reconcile
from storage.lending.credit import grant_credit, withdraw
from storage.lending.models import LenderMonth, PayoutRequest, Pledge
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.notifications.kinds import Kind
from storage.notifications.models import Notification
from storage.projects.lifecycle import default_project
from storage.projects.models import Project, ProjectStatus
from storage.repayments.recording import RepaymentInput, record_repayment
from tests.factories import make_lender, make_project

pytestmark = pytest.mark.unreconciled


def busy_programme(db: Database, rules: LendingRules) -> dict[str, int]:
    """Grants, pledges that fund a loan, repayments, a default, a withdrawal and an open pledge."""
    ana, bilal = make_lender(db), make_lender(db)
    funded, defaulted, open_ = make_project(db, 60_00), make_project(db, 40_00), make_project(db)
    assert grant_credit(db.sessions, ana, 50_00, key="g1", reason="welcome").ok
    for key, who, project, amount in (
        ("p1", ana, funded, 30_00),
        ("p2", bilal, funded, 30_00),
        ("p3", ana, defaulted, 20_00),
        ("p4", bilal, defaulted, 20_00),
        ("p5", bilal, open_, 25_00),
    ):
        assert pledge(db.sessions, PledgeRequest(who, project, amount), rules, key=key).ok
    for number, amount in enumerate((10_00, 7_77)):
        item = RepaymentInput(funded, amount, date(2026, 1, 1), f"r{number}")
        assert record_repayment(db.sessions, item, rules).ok
    assert record_repayment(
        db.sessions, RepaymentInput(defaulted, 5_00, date(2026, 1, 1), "r9"), rules
    ).ok
    assert default_project(db.sessions, defaulted, reason="flood", key="d1").ok
    assert withdraw(db.sessions, ana, 3_00, key="w1").ok
    return {"ana": ana, "bilal": bilal, "funded": funded, "open": open_, "defaulted": defaulted}


def broken_rules(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        found = reconcile(session)
    return {broken.rule.name: broken.count for broken in found.broken}


def test_books_written_by_the_operations_reconcile(db: Database, rules: LendingRules) -> None:
    busy_programme(db, rules)
    assert broken_rules(db) == {}


def test_every_rule_has_a_name_and_a_promise() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert all(rule.promise for rule in RULES)


def _edit(db: Database, change: Callable[[Session], object]) -> None:
    with db.sessions() as session, session.begin():
        change(session)


def test_a_balance_out_of_step_with_its_postings_is_named(
    db: Database, rules: LendingRules
) -> None:
    who = busy_programme(db, rules)["ana"]

    def skew(session: Session) -> None:
        account = lender_accounts(session, who).available
        session.execute(
            update(Account).where(Account.id == account).values(balance=Account.balance + 1)
        )

    _edit(db, skew)
    assert broken_rules(db) == {"balances": 1}


def test_a_double_refund_breaks_committed_pledge_and_refund_rules(
    db: Database, rules: LendingRules
) -> None:
    """What two expiry runs once did: a live pledge's money returned to credit anyway."""
    programme = busy_programme(db, rules)
    bilal, open_ = programme["bilal"], programme["open"]

    def refund_again(session: Session) -> None:
        accounts = lender_accounts(session, bilal)
        pledge_id = session.query(Pledge.id).filter(Pledge.project_id == open_).scalar()
        legs = [
            Leg(accounts.committed, -25_00, pledge_id),
            Leg(accounts.available, 25_00, pledge_id),
        ]
        post(session, "expire", legs, now=utcnow())

    _edit(db, refund_again)
    assert broken_rules(db) == {"pledge_postings": 1, "committed": 1}


def test_a_pledge_without_postings_is_named(db: Database, rules: LendingRules) -> None:
    who, project = make_lender(db), make_project(db)

    def orphan(session: Session) -> None:
        session.execute(
            insert(Pledge).values(
                lender_id=who,
                project_id=project,
                amount=20_00,
                from_credit=0,
                from_payroll=20_00,
                repaid=0,
                is_relend=False,
                refunded=False,
                created_at=utcnow(),
            )
        )
        session.execute(update(Project).where(Project.id == project).values(funded=20_00))

    _edit(db, orphan)
    found = broken_rules(db)
    assert found["pledge_postings"] == 1
    assert found["committed"] == 1 and found["payroll"] == 1 and found["monthly_cap"] == 1


def test_an_unrefunded_pledge_on_an_expired_project_is_named(
    db: Database, rules: LendingRules
) -> None:
    open_ = busy_programme(db, rules)["open"]
    _edit(
        db,
        lambda session: session.execute(
            update(Project).where(Project.id == open_).values(status=ProjectStatus.EXPIRED)
        ),
    )
    found = broken_rules(db)
    assert found["refunds"] == 1 and found["committed"] == 1 and found["pledge_postings"] == 1


def test_project_figures_out_of_step_with_their_rows_are_named(
    db: Database, rules: LendingRules
) -> None:
    funded = busy_programme(db, rules)["funded"]
    _edit(
        db,
        lambda session: session.execute(
            update(Project).where(Project.id == funded).values(repaid=Project.repaid + 1)
        ),
    )
    assert broken_rules(db) == {"projects": 1}


def test_payouts_and_monthly_cap_out_of_step_are_named(db: Database, rules: LendingRules) -> None:
    who = busy_programme(db, rules)["bilal"]

    def drift(session: Session) -> None:
        session.execute(update(PayoutRequest).values(amount=PayoutRequest.amount + 1))
        session.execute(
            update(LenderMonth)
            .where(LenderMonth.lender_id == who)
            .values(new_money=LenderMonth.new_money + 1)
        )

    _edit(db, drift)
    assert broken_rules(db) == {"payouts": 1, "monthly_cap": 1}


def test_an_unbalanced_transaction_is_named(db: Database, rules: LendingRules) -> None:
    busy_programme(db, rules)

    def one_legged(session: Session) -> None:
        losses = system_account(session, AccountKind.LOSSES)
        transaction = new_transaction(session, "manual", now=utcnow())
        session.execute(
            insert(Posting).values(transaction_id=transaction, account_id=losses, amount=1)
        )
        session.execute(
            update(Account).where(Account.id == losses).values(balance=Account.balance + 1)
        )

    _edit(db, one_legged)
    assert broken_rules(db) == {"balanced": 1, "losses": 1}


def test_the_daily_job_tells_each_operator_once_what_is_broken(
    db: Database, rules: LendingRules
) -> None:
    who = busy_programme(db, rules)["bilal"]
    _edit(
        db,
        lambda session: session.execute(
            update(LenderMonth)
            .where(LenderMonth.lender_id == who)
            .values(new_money=LenderMonth.new_money + 1)
        ),
    )
    now = utcnow()
    first = alert_operators(db.sessions, {"U0OPS1", "U0OPS2"}, now=now)
    again = alert_operators(db.sessions, {"U0OPS1", "U0OPS2"}, now=now)
    assert (first.changed, first.queued, again.queued) == (1, 2, 0)
    with db.sessions() as session:
        alerts = session.execute(
            select(Notification.channel_id, Notification.payload).where(
                Notification.kind == Kind.RECONCILIATION
            )
        ).all()
    assert sorted(str(channel) for channel, _ in alerts) == ["U0OPS1", "U0OPS2"]
    payload: dict[str, Any] = alerts[0][1]
    assert payload["broken"][0] == {
        "name": "monthly_cap",
        "promise": RULES[-3].promise,
        "count": 1,
    }


def test_the_daily_job_is_silent_when_the_books_reconcile(
    db: Database, rules: LendingRules
) -> None:
    busy_programme(db, rules)
    assert alert_operators(db.sessions, {"U0OPS1"}, now=utcnow()).queued == 0


def test_a_pledge_leg_on_another_lenders_account_is_named(
    db: Database, rules: LendingRules
) -> None:
    programme = busy_programme(db, rules)
    ana, bilal = programme["ana"], programme["bilal"]

    def misplace(session: Session) -> None:
        # Bilal's open pledge's committed leg, moved to Ana's committed account (balances too).
        theirs, ours = lender_accounts(session, bilal), lender_accounts(session, ana)
        open_pledge = select(Pledge.id).where(Pledge.project_id == programme["open"])
        session.execute(
            update(Posting)
            .where(Posting.account_id == theirs.committed, Posting.pledge_id.in_(open_pledge))
            .values(account_id=ours.committed)
        )
        for account, change in ((theirs.committed, -25_00), (ours.committed, 25_00)):
            session.execute(
                update(Account)
                .where(Account.id == account)
                .values(balance=Account.balance + change)
            )

    _edit(db, misplace)
    found = broken_rules(db)
    assert found["pledge_postings"] == 1 and found["committed"] == 2
