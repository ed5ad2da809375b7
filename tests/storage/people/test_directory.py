"""The directory's storage side on both databases: one UPDATE per profile, nobody created by
it, and the bounded wait of a DM for a lookup in flight."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.db.unit_of_work import transaction
from storage.lending.lenders import SlackIdentity
from storage.lending.models import Lender
from storage.lending.rules import LeaverCredit
from storage.notifications.timing import LOOKUP_POLL, LOOKUP_WAIT, delivery_time, load_recipients
from storage.people.directory import Profile, ask_lookup, record_lookup, update_profiles
from tests.factories import make_lender

TEAM = "T0001"
PAYOUT = LeaverCredit.PAYOUT


def test_a_profile_changes_only_its_lender_and_creates_nobody(db: Database) -> None:
    lender_id = make_lender(db, "UANA", TEAM)
    profiles = [
        Profile("UANA", "ana", "America/Lima", locale="es-LA", is_restricted=True),
        Profile("UNOBODY", "nobody", "Asia/Tokyo"),
    ]
    with transaction(db.sessions) as session:
        assert update_profiles(session, TEAM, profiles, PAYOUT) == 1
        assert update_profiles(session, "TOTHER", profiles, PAYOUT) == 0
    with db.sessions() as session:
        assert session.query(Lender).count() == 1
        ana = session.get_one(Lender, lender_id)
        assert (ana.tz, ana.locale, ana.is_restricted, ana.deactivated) == (
            "America/Lima",
            "es-LA",
            True,
            False,
        )


def test_an_unknown_zone_and_missing_fields_keep_what_is_stored(db: Database) -> None:
    lender_id = make_lender(db, "UANA", TEAM)
    with transaction(db.sessions) as session:
        update_profiles(
            session, TEAM, [Profile("UANA", "ana", "America/Lima", locale="es-LA")], PAYOUT
        )
        update_profiles(session, TEAM, [Profile("UANA", "", "Mars/Olympus")], PAYOUT)
    with db.sessions() as session:
        ana = session.get_one(Lender, lender_id)
        assert (ana.display_name, ana.tz, ana.locale) == ("ana", "America/Lima", "es-LA")


def test_another_organisations_person_is_not_made_a_lender_by_a_lookup(db: Database) -> None:
    olga = SlackIdentity("UOLGA", TEAM)
    with transaction(db.sessions) as session:
        assert not record_lookup(
            session, olga, Profile("UOLGA", "olga", "UTC", is_external=True), PAYOUT, now=utcnow()
        )
    with db.sessions() as session:
        assert session.query(Lender).count() == 0


def test_a_dm_waits_for_a_lookup_in_flight_a_few_minutes_at_most(db: Database) -> None:
    lender_id = make_lender(db, "UANA", TEAM)
    asked = datetime(2026, 12, 2, 15, 0)  # a Wednesday, inside UTC working hours
    with transaction(db.sessions) as session:
        ask_lookup(session, SlackIdentity("UANA", TEAM), now=asked)
        # Asked again later (they clicked again): the wait still counts from the first ask.
        ask_lookup(session, SlackIdentity("UANA", TEAM), now=asked + timedelta(minutes=3))
    with db.sessions() as session:
        recipient = load_recipients(session, [lender_id])[lender_id]
    assert recipient.lookup_asked_at == asked
    now = asked + timedelta(minutes=1)
    assert delivery_time(recipient, now, now) == now + LOOKUP_POLL
    almost = asked + LOOKUP_WAIT - timedelta(seconds=5)
    assert delivery_time(recipient, almost, almost) == asked + LOOKUP_WAIT
    # Past the bound, the stored zone (UTC, the default) applies: 15:06 is inside its hours.
    late = asked + LOOKUP_WAIT + timedelta(minutes=1)
    assert delivery_time(recipient, late, late) == late
