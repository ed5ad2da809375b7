"""Small builders of realistic rows for tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.lending.lenders import SlackIdentity, ensure_lender
from storage.projects.models import Partner, Project, ProjectStatus, RepaymentInterval

_numbers = itertools.count(1)


def make_partner(db: Database) -> int:
    number = next(_numbers)
    with db.sessions() as session, session.begin():
        partner = Partner(external_id=f"p{number}", name=f"Partner {number}", country="Peru")
        session.add(partner)
        session.flush()
        return partner.id


def make_project(
    db: Database,
    amount: int = 100_000,
    *,
    country: str = "Peru",
    sector: str = "Agriculture",
    activity: str = "Farming",
    women: int = 1,
    term_months: int = 12,
    interval: RepaymentInterval = RepaymentInterval.MONTHLY,
    deadline: datetime | None = None,
) -> int:
    number = next(_numbers)
    partner_id = make_partner(db)
    with db.sessions() as session, session.begin():
        project = Project(
            reference=f"T{number}",
            source=f"partner:p{number}",
            external_id=f"test-{number}",
            partner_id=partner_id,
            borrower=f"Borrower {number}",
            purpose="to buy seeds and fertiliser",
            country_code="PE",
            country=country,
            region="Cusco",
            sector=sector,
            activity=activity,
            borrower_genders="female" if women else "male",
            borrower_count=1,
            women_count=women,
            amount=amount,
            funded=0,
            repaid=0,
            lost=0,
            term_months=term_months,
            repayment_interval=interval,
            status=ProjectStatus.FUNDRAISING,
            deadline=deadline or utcnow() + timedelta(days=30),
            tags="",
        )
        session.add(project)
        session.flush()
        return project.id


def make_lender(db: Database, user_id: str | None = None, team_id: str = "T0001") -> int:
    identity = SlackIdentity(user_id or f"U{next(_numbers):06d}", team_id, display_name="Ana")
    with db.sessions() as session, session.begin():
        return ensure_lender(session, identity, now=utcnow()).id
