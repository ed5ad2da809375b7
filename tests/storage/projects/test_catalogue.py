"""The catalogue: which open projects a lender is shown first."""

from __future__ import annotations

from datetime import timedelta

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.lending.credit import grant_credit
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.catalogue import featured
from tests.factories import make_lender, make_project


def lend(db: Database, project_id: int, cents: int) -> None:
    lender = make_lender(db)
    assert grant_credit(db.sessions, lender, cents, key=f"g{lender}", reason="test").ok
    request = PledgeRequest(lender, project_id, cents)
    assert pledge(db.sessions, request, LendingRules(), key=None).ok


def test_close_to_their_goal_means_furthest_along_not_smallest(db: Database) -> None:
    untouched_small = make_project(db, amount=2_500)
    half = make_project(db, amount=10_000)
    a_tenth = make_project(db, amount=50_000)
    lend(db, half, 5_000)
    lend(db, a_tenth, 5_000)
    with db.sessions() as session:
        shown = [card.id for card in featured(session, utcnow())]
    assert shown == [half, a_tenth] and untouched_small not in shown


def test_when_nobody_has_lent_yet_the_first_to_run_out_of_time_come_first(db: Database) -> None:
    later = make_project(db, deadline=utcnow() + timedelta(days=20))
    sooner = make_project(db, deadline=utcnow() + timedelta(days=2))
    with db.sessions() as session:
        cards = featured(session, utcnow())
    assert [card.id for card in cards] == [sooner, later]
    assert all(card.funded == 0 for card in cards)
