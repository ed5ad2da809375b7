"""Auto-relend places opted-in lenders' credit by their criteria, once per day and project."""

from __future__ import annotations

from sqlalchemy import select, update

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.ledger.accounts import lender_balance
from storage.ledger.models import AccountKind
from storage.lending.autolend import run_autolend
from storage.lending.credit import grant_credit
from storage.lending.models import Lender, Pledge
from storage.lending.rules import LendingRules
from storage.notifications.models import Notification
from tests.factories import make_lender, make_project


def opt_in(db: Database, lender_id: int, country: str | None = None) -> None:
    with db.sessions() as session, session.begin():
        session.execute(
            update(Lender)
            .where(Lender.id == lender_id)
            .values(autolend=True, autolend_country=country)
        )


def test_autolend_places_credit_in_matching_projects_and_tells_the_lender(
    db: Database, rules: LendingRules
) -> None:
    senegal = make_project(db, 50_00, country="Senegal")
    make_project(db, 50_00, country="Peru")
    lender, bystander = make_lender(db), make_lender(db)
    opt_in(db, lender, "senegal")
    for who in (lender, bystander):
        grant_credit(db.sessions, who, 70_00, key=f"g{who}", reason="welcome")
    now = utcnow()
    result = run_autolend(db.sessions, rules, now=now)
    assert (result.lenders, result.pledges, result.amount) == (1, 1, 50_00)
    assert run_autolend(db.sessions, rules, now=now).pledges == 0
    with db.sessions() as session:
        assert lender_balance(session, lender, AccountKind.AVAILABLE) == 20_00
        assert lender_balance(session, bystander, AccountKind.AVAILABLE) == 70_00
        pledged = session.execute(select(Pledge.project_id, Pledge.from_payroll)).all()
        assert pledged == [(senegal, 0)]
        kinds = session.execute(select(Notification.kind)).scalars().all()
        assert "autolend" in kinds


def test_autolend_never_spends_new_money(db: Database, rules: LendingRules) -> None:
    make_project(db, 500_00)
    lender = make_lender(db)
    opt_in(db, lender)
    grant_credit(db.sessions, lender, 19_99, key="g", reason="welcome")
    assert run_autolend(db.sessions, rules).pledges == 0
