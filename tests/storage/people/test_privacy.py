"""A person's data on SQLite and PostgreSQL: the export, the erasure, and retention."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Text, cast, func, select, update

from storage.circles.membership import create_circle, invite_to_circle, join_circle
from storage.circles.models import Circle, CircleMember
from storage.circles.statistics import circle_totals
from storage.db.clock import utcnow
from storage.db.database import Database
from storage.db.inbox import accept
from storage.finance.statistics import programme_stats
from storage.lending.credit import grant_credit, withdraw
from storage.lending.lenders import SlackIdentity, choose_autolend, ensure_lender, find_lender
from storage.lending.models import Lender, PayoutRequest, PendingLookup
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.portfolio import balances
from storage.lending.rules import LendingRules
from storage.notifications.kinds import Kind
from storage.notifications.models import Notification, NotificationStatus
from storage.people.privacy import (
    PSEUDONYM_PREFIX,
    erase_person,
    export_person,
    purge_sent_texts,
    text_columns,
)
from storage.projects.impact_updates import post_impact_update
from storage.projects.models import Project
from storage.repayments.recording import RepaymentInput, record_repayment
from templates.filters import mention
from tests.factories import make_project

TEAM = "T0001"
ANA = SlackIdentity("U0ANA", TEAM, display_name="Ana Quispe")
BOB = SlackIdentity("U0BOB", TEAM, display_name="Bob")
CY = SlackIdentity("U0CY", TEAM, display_name="Cy")
DEE = SlackIdentity("U0DEE", TEAM, display_name="Dee")
REAL_NAME = "Ana María Quispe"
ANDES = "C0ANDES"
EVE_CHANNEL = "C0EVE"


@dataclass(frozen=True)
class Programme:
    ana: int
    andes: int
    eve_circle: int
    project: int


def build(db: Database) -> Programme:
    """Ana lends, leads Team Andes (Bob, then Cy, joined after her), invited Dee, was invited
    to Eve's circle and joined it, withdrew once, posted an impact update, and typed a request
    still being worked on."""
    rules = LendingRules()
    now = utcnow()
    with db.sessions() as session, session.begin():
        ana = ensure_lender(session, ANA, now=now).id
        for identity in (BOB, CY, DEE):
            ensure_lender(session, identity, now=now)
        if "real_name" in Lender.__table__.c:
            session.execute(update(Lender).where(Lender.id == ana).values(real_name=REAL_NAME))
    andes = create_circle(db.sessions, ANA, ANDES, "Team Andes").value().circle_id
    eve = SlackIdentity("U0EVE", TEAM, display_name="Eve")
    eve_circle = create_circle(db.sessions, eve, EVE_CHANNEL, "Eve's circle").value().circle_id
    invite_to_circle(db.sessions, eve, EVE_CHANNEL, ANA.user_id).value()
    join_circle(db.sessions, ANA, channel_id=EVE_CHANNEL).value()
    for later, identity in enumerate((BOB, CY), start=1):
        join_circle(db.sessions, identity, channel_id=ANDES, now=now + timedelta(minutes=later))
    invite_to_circle(db.sessions, ANA, ANDES, DEE.user_id).value()
    grant_credit(db.sessions, ana, 10_000, key="grant:welcome:ana", reason="welcome").value()
    project = make_project(db, 5_000)
    key = f"pledge:{TEAM}:{ANA.user_id}:intent1"
    pledge(db.sessions, PledgeRequest(ANA, project, 3_000, circle_id=andes), rules, key=key)
    pledge(db.sessions, PledgeRequest(BOB, project, 2_000), rules, key="pledge:bob").value()
    paid = RepaymentInput(project, 1_000, date.today(), "R1")
    record_repayment(db.sessions, paid, rules).value()
    withdraw(db.sessions, ANA, 500, key=f"withdraw:{TEAM}:{ANA.user_id}:w1").value()
    choose_autolend(db.sessions, ANA, on=True, country="Peru", sector=None).value()
    post_impact_update(
        db.sessions, project, "The harvest is in.", photo_url=None, posted_by=ANA.user_id
    ).value()
    accept(
        db.sessions,
        {"user_id": ANA.user_id, "user_name": "Ana Quispe"},
        now=now,
        lease=timedelta(minutes=1),
    )
    return Programme(ana, andes, eve_circle, project)


def totals(db: Database, programme: Programme) -> object:
    stats = programme_stats(db.reads)
    with db.reads() as session:
        circles = circle_totals(session, {programme.andes, programme.eve_circle})
        project = session.get_one(Project, programme.project)
        return stats, circles, (project.funded, project.repaid, project.lost)


def mentions(db: Database, needle: str) -> list[str]:
    """Every text column of every table that holds ``needle`` anywhere, as table.column."""
    found = []
    with db.reads() as session:
        for column in text_columns():
            hits = session.execute(
                select(func.count())
                .select_from(column.table)
                .where(cast(column, Text).contains(needle, autoescape=True))
            ).scalar_one()
            if hits:
                found.append(f"{column.table.name}.{column.name}")
    return found


def test_an_erasure_leaves_nothing_of_the_person_in_any_text_column(db: Database) -> None:
    programme = build(db)
    with db.sessions() as session, session.begin():
        # A directory lookup of hers still in flight.
        session.add(
            PendingLookup(org_key=ANA.org_key, slack_user_id=ANA.user_id, asked_at=utcnow())
        )
    assert mentions(db, ANA.user_id) and mentions(db, "Ana Quispe")
    before = totals(db, programme)
    erasure = erase_person(db.sessions, programme.ana, currency="EUR")
    assert erasure.pseudonym.startswith(PSEUDONYM_PREFIX) and not erasure.already
    # Circle posts and the new lead's message still mention whoever the records name.
    assert mention(erasure.pseudonym) == f"<@{erasure.pseudonym}>"
    for needle in (ANA.user_id, "Ana Quispe", REAL_NAME):
        assert mentions(db, needle) == [], needle
    assert totals(db, programme) == before
    with db.sessions() as session:
        assert session.execute(select(PendingLookup)).first() is None


def test_an_erasure_pays_out_the_open_credit_and_hands_on_the_circles_she_led(
    db: Database,
) -> None:
    programme = build(db)
    with db.sessions() as session:
        available = balances(session, programme.ana).available
    assert available > 0
    erasure = erase_person(db.sessions, programme.ana, currency="EUR")
    assert (erasure.paid_out, erasure.circles_handed_on, erasure.circles_left) == (
        available,
        1,
        2,
    )
    with db.sessions() as session:
        assert balances(session, programme.ana).available == 0
        payouts = session.execute(
            select(PayoutRequest.amount).where(PayoutRequest.lender_id == programme.ana)
        ).scalars()
        assert sorted(payouts) == sorted([500, available])
        bob = find_lender(session, BOB)
        assert bob is not None
        assert session.get_one(Circle, programme.andes).lead_id == bob.id
        told = session.execute(
            select(Notification.lender_id).where(Notification.kind == Kind.NEW_LEAD)
        ).scalar_one()
        assert told == bob.id
        assert (
            session.execute(
                select(func.count()).where(CircleMember.lender_id == programme.ana)
            ).scalar_one()
            == 0
        )
        erased = session.get_one(Lender, programme.ana)
        assert (erased.display_name, erased.tz, erased.autolend, erased.autolend_country) == (
            "",
            "UTC",
            False,
            None,
        )
        pending = session.execute(
            select(func.count()).where(
                Notification.lender_id == programme.ana,
                Notification.status == NotificationStatus.PENDING,
            )
        ).scalar_one()
        assert pending == 0


def test_erasing_twice_is_a_no_op_and_someone_who_comes_back_is_new(db: Database) -> None:
    programme = build(db)
    first = erase_person(db.sessions, programme.ana, currency="EUR")
    again = erase_person(db.sessions, programme.ana, currency="EUR")
    assert (again.already, again.pseudonym, again.paid_out) == (True, first.pseudonym, 0)
    with db.sessions() as session, session.begin():
        assert find_lender(session, ANA) is None
        back = ensure_lender(session, ANA, now=utcnow())
        assert back.id != programme.ana
        assert balances(session, back.id).available == 0


def test_the_export_holds_every_section_of_the_person(db: Database) -> None:
    programme = build(db)
    with db.reads() as session:
        document = json.loads("".join(export_person(session, programme.ana)))
    assert document["profile"]["slack_user_id"] == ANA.user_id
    assert document["profile"]["display_name"] == "Ana Quispe"
    assert document["profile"]["autolend_country"] == "Peru"
    assert {m["name"]: m["leads"] for m in document["circle_memberships"]} == {
        "Team Andes": True,
        "Eve's circle": False,
    }
    assert [c["name"] for c in document["circles_led"]] == ["Team Andes"]
    assert sorted((i["inviter"], i["invitee"]) for i in document["invitations"]) == [
        ("U0ANA", "U0DEE"),
        ("U0EVE", "U0ANA"),
    ]
    assert [(p["project"], p["amount"]) for p in document["pledges"]] == [
        (document["pledges"][0]["project"], 3_000)
    ]
    kinds = {line["transaction_kind"] for line in document["ledger_lines"]}
    assert {"grant", "withdraw"} <= kinds
    assert sum(
        line["amount"] for line in document["ledger_lines"] if line["account"] == "available"
    ) == (10_000 - 3_000 + 600 - 500)
    assert [p["amount"] for p in document["payout_requests"]] == [500]
    assert {n["kind"] for n in document["notifications"]} >= {"grant", "invite", "repayment"}


def test_sent_messages_lose_who_they_named_after_the_retention_period(db: Database) -> None:
    programme = build(db)
    now = utcnow()
    with db.sessions() as session, session.begin():
        session.execute(
            update(Notification).values(
                status=NotificationStatus.SENT, sent_at=now - timedelta(days=401), last_error="x"
            )
        )
    purged = purge_sent_texts(db.sessions, retention_days=400, now=now)
    assert purged.notifications > 0
    assert purge_sent_texts(db.sessions, retention_days=400, now=now).notifications == 0
    with db.sessions() as session:
        rows = session.execute(select(Notification.kind, Notification.payload)).all()
        assert all(row.payload.get("inviter") is None for row in rows)
        assert (
            session.execute(
                select(func.count()).where(Notification.last_error.is_not(None))
            ).scalar_one()
            == 0
        )
        grants = [row.payload for row in rows if row.kind == Kind.GRANT]
        assert grants == [{"amount": 10_000}]
    assert programme.ana


def test_messages_sent_within_the_retention_period_are_kept_whole(db: Database) -> None:
    build(db)
    now = utcnow()
    with db.sessions() as session, session.begin():
        session.execute(
            update(Notification).values(
                status=NotificationStatus.SENT, sent_at=now - timedelta(days=399)
            )
        )
    assert purge_sent_texts(db.sessions, retention_days=400, now=now).notifications == 0
    assert mentions(db, '"inviter"')


def test_a_circle_she_alone_was_in_closes_and_keeps_its_history(db: Database) -> None:
    alone = create_circle(db.sessions, ANA, "C0ALONE", "Ana's own").value().circle_id
    with db.sessions() as session:
        ana = find_lender(session, ANA)
        assert ana is not None
    erasure = erase_person(db.sessions, ana.id, currency="EUR")
    assert (erasure.circles_left, erasure.circles_handed_on, erasure.circles_closed) == (1, 0, 1)
    with db.reads() as session:
        circle = session.get_one(Circle, alone)
        assert (circle.name, circle.lead_id) == ("Ana's own", ana.id)
