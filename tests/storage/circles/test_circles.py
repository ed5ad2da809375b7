"""Lending circles on SQLite and PostgreSQL: membership, leads, stats, the leaderboard."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from storage.circles.membership import (
    circle_in_channel,
    create_circle,
    feature_project,
    invite_to_circle,
    join_circle,
    leave_circle,
    set_weekly_summary,
)
from storage.circles.models import Circle, CircleMember
from storage.circles.statistics import circle_stats, leaderboard
from storage.circles.summaries import circle_weekly_summaries
from storage.db.clock import utcnow
from storage.db.database import Database
from storage.finance.statistics import programme_stats
from storage.lending.lenders import SlackIdentity, ensure_lender
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.notifications.kinds import Kind
from storage.notifications.models import Notification
from storage.projects.impact_updates import post_impact_update
from storage.projects.lifecycle import expire_due_projects
from storage.projects.models import ImpactUpdate, Project
from tests.factories import make_project

CHANNEL = "C0CIRCLE"
LEAD = SlackIdentity("U0LEAD", "T0001", display_name="Lea")
ANA = SlackIdentity("U0ANA", "T0001", display_name="Ana")
BOB = SlackIdentity("U0BOB", "T0001", display_name="Bob")
STRANGER = SlackIdentity("U0LEAD", "T0OTHER", display_name="Someone else")


def lender_id(db: Database, identity: SlackIdentity) -> int:
    with db.sessions() as session, session.begin():
        return ensure_lender(session, identity, now=utcnow()).id


def counts(db: Database) -> tuple[int, int]:
    with db.sessions() as session:
        circles = session.execute(select(func.count()).select_from(Circle)).scalar_one()
        members = session.execute(select(func.count()).select_from(CircleMember)).scalar_one()
    return circles, members


def make_circle(db: Database, goal: int | None = 100_000) -> int:
    return create_circle(db.sessions, LEAD, CHANNEL, "  Team   Andes ", goal).value().circle_id


def test_the_creator_leads_and_is_the_first_member(db: Database) -> None:
    info = create_circle(db.sessions, LEAD, CHANNEL, "  Team   Andes ", 50_000).value()
    assert (info.name, info.lead_user_id, info.goal, info.weekly_summary) == (
        "Team Andes",
        "U0LEAD",
        50_000,
        True,
    )
    assert counts(db) == (1, 1)


@pytest.mark.parametrize(
    ("name", "goal", "code"),
    [("", None, "name_missing"), ("x" * 81, None, "name_too_long"), ("Ok", 0, "goal_not_positive")],
)
def test_bad_names_and_goals_are_refused_without_trace(
    db: Database, name: str, goal: int | None, code: str
) -> None:
    outcome = create_circle(db.sessions, LEAD, CHANNEL, name, goal)
    assert outcome.refusal is not None and outcome.refusal.code == code
    assert counts(db) == (0, 0)


def test_one_circle_per_channel_per_organisation(db: Database) -> None:
    make_circle(db)
    again = create_circle(db.sessions, ANA, CHANNEL, "Another")
    assert again.refusal is not None and again.refusal.code == "circle_exists"
    # The same channel id in another organisation is another channel.
    assert create_circle(db.sessions, STRANGER, CHANNEL, "Theirs").ok
    assert counts(db) == (2, 2)


def test_joining_twice_is_a_no_op(db: Database) -> None:
    circle_id = make_circle(db)
    assert join_circle(db.sessions, ANA, channel_id=CHANNEL).value().changed
    second = join_circle(db.sessions, ANA, circle_id=circle_id).value()
    assert not second.changed
    assert counts(db) == (1, 2)


def test_another_organisation_can_neither_see_nor_join_nor_change(db: Database) -> None:
    circle_id = make_circle(db)
    for outcome in (
        join_circle(db.sessions, STRANGER, circle_id=circle_id),
        join_circle(db.sessions, STRANGER, channel_id=CHANNEL),
        set_weekly_summary(db.sessions, STRANGER, CHANNEL, False),
        feature_project(db.sessions, STRANGER, CHANNEL, "T1"),
        invite_to_circle(db.sessions, STRANGER, CHANNEL, "U0ANA"),
    ):
        assert outcome.refusal is not None and outcome.refusal.code == "no_circle"
    assert leaderboard(db.sessions, "T0OTHER").all_time == ()
    assert counts(db) == (1, 1)


def test_only_the_lead_changes_the_summary_or_features(db: Database) -> None:
    make_circle(db)
    join_circle(db.sessions, ANA, channel_id=CHANNEL)
    project_id = make_project(db)
    reference = _reference(db, project_id)
    for outcome in (
        set_weekly_summary(db.sessions, ANA, CHANNEL, False),
        feature_project(db.sessions, ANA, CHANNEL, reference),
    ):
        assert outcome.refusal is not None and outcome.refusal.code == "not_lead"
    assert set_weekly_summary(db.sessions, LEAD, CHANNEL, False).value().weekly_summary is False
    featured = feature_project(db.sessions, LEAD, CHANNEL, reference.lower()).value()
    assert (featured.project_id, featured.circle.channel_id) == (project_id, CHANNEL)


def _reference(db: Database, project_id: int) -> str:
    with db.sessions() as session:
        return session.get_one(Project, project_id).reference


def test_only_open_projects_can_be_featured(db: Database) -> None:
    make_circle(db)
    closed = make_project(db, deadline=utcnow() - timedelta(days=1))
    outcome = feature_project(db.sessions, LEAD, CHANNEL, _reference(db, closed))
    assert outcome.refusal is not None and outcome.refusal.code == "project_closed"
    missing = feature_project(db.sessions, LEAD, CHANNEL, "NOPE")
    assert missing.refusal is not None and missing.refusal.code == "unknown_project"


def new_lead_rows(db: Database) -> list[tuple[int | None, dict[str, object]]]:
    with db.sessions() as session:
        rows = session.execute(
            select(Notification.lender_id, Notification.payload).where(
                Notification.kind == Kind.NEW_LEAD
            )
        ).all()
    return [(lender, payload) for lender, payload in rows]


def test_a_leaving_lead_is_asked_first_and_nothing_changes(db: Database) -> None:
    make_circle(db)
    start = utcnow()
    join_circle(db.sessions, ANA, channel_id=CHANNEL, now=start + timedelta(minutes=1))
    join_circle(db.sessions, BOB, channel_id=CHANNEL, now=start + timedelta(minutes=2))
    asked = leave_circle(db.sessions, LEAD, channel_id=CHANNEL).value()
    assert (asked.needs_confirmation, asked.changed, asked.successor_user_id) == (
        True,
        False,
        "U0ANA",
    )
    assert counts(db) == (1, 3)
    assert new_lead_rows(db) == []


def test_a_confirmed_leave_hands_over_to_the_earliest_member_who_is_told_once(
    db: Database,
) -> None:
    circle_id = make_circle(db)
    start = utcnow()
    join_circle(db.sessions, ANA, channel_id=CHANNEL, now=start + timedelta(minutes=1))
    join_circle(db.sessions, BOB, channel_id=CHANNEL, now=start + timedelta(minutes=2))
    shown = "U0ANA"  # the successor the confirmation named
    left = leave_circle(
        db.sessions, LEAD, circle_id=circle_id, confirmation="a" * 32, successor_shown=shown
    )
    assert (left.value().changed, left.value().successor_user_id) == (True, "U0ANA")
    replayed = leave_circle(
        db.sessions, LEAD, circle_id=circle_id, confirmation="a" * 32, successor_shown=shown
    )
    assert replayed.replayed and replayed.value() == left.value()
    again = leave_circle(db.sessions, LEAD, circle_id=circle_id, confirmation="b" * 32)
    assert not again.value().changed
    info = circle_in_channel(db.sessions, LEAD.org_key, CHANNEL)
    assert info is not None and info.lead_user_id == "U0ANA"
    assert new_lead_rows(db) == [
        (lender_id(db, ANA), {"former_lead": "U0LEAD", "channel": CHANNEL, "left_company": False})
    ]
    # A member who does not lead leaves at once, and nobody is told.
    bob_left = leave_circle(db.sessions, BOB, channel_id=CHANNEL).value()
    assert (bob_left.changed, bob_left.was_lead, bob_left.successor_user_id) == (True, False, None)
    assert counts(db) == (1, 1) and len(new_lead_rows(db)) == 1


def test_the_last_member_leaving_closes_the_circle_until_someone_joins(db: Database) -> None:
    circle_id = make_circle(db)
    asked = leave_circle(db.sessions, LEAD, channel_id=CHANNEL).value()
    assert (asked.needs_confirmation, asked.successor_user_id) == (True, None)
    closed = leave_circle(db.sessions, LEAD, circle_id=circle_id, confirmation="c" * 32).value()
    assert (closed.changed, closed.was_lead, closed.successor_user_id) == (True, True, None)
    assert counts(db) == (1, 0) and new_lead_rows(db) == []
    assert join_circle(db.sessions, BOB, channel_id=CHANNEL).value().circle.lead_user_id == "U0BOB"


def test_weekly_summaries_go_to_open_circles_that_want_them_once_a_week(db: Database) -> None:
    make_circle(db)
    create_circle(db.sessions, ANA, "C0QUIET", "Quiet")
    set_weekly_summary(db.sessions, ANA, "C0QUIET", False)
    create_circle(db.sessions, BOB, "C0EMPTY", "Empty")
    emptied = circle_in_channel(db.sessions, BOB.org_key, "C0EMPTY")
    assert emptied is not None
    leave_circle(db.sessions, BOB, circle_id=emptied.circle_id, confirmation="d" * 32)
    monday = datetime(2026, 1, 12, 8, 0)
    circle_weekly_summaries(db.sessions, now=monday)
    circle_weekly_summaries(db.sessions, now=monday + timedelta(days=2))
    with db.sessions() as session:
        channels = session.execute(
            select(Notification.channel_id).where(Notification.kind == Kind.CIRCLE_SUMMARY)
        ).scalars()
        assert list(channels) == [CHANNEL]


def test_invitations_come_from_members(db: Database) -> None:
    make_circle(db)
    refused = invite_to_circle(db.sessions, ANA, CHANNEL, "U0BOB")
    assert refused.refusal is not None and refused.refusal.code == "not_a_member"
    join_circle(db.sessions, ANA, channel_id=CHANNEL)
    assert not invite_to_circle(db.sessions, LEAD, CHANNEL, "U0BOB").value().already_member
    assert invite_to_circle(db.sessions, LEAD, CHANNEL, "U0ANA").value().already_member


def lend(
    db: Database,
    rules: LendingRules,
    who: SlackIdentity,
    project: int,
    amount: int,
    circle: int | None,
    when: datetime | None = None,
) -> None:
    request = PledgeRequest(lender_id(db, who), project, amount, circle_id=circle)
    assert pledge(db.sessions, request, rules, key=None, now=when).ok


def test_stats_count_live_pledges_for_the_circle(db: Database, rules: LendingRules) -> None:
    circle_id = make_circle(db)
    join_circle(db.sessions, ANA, channel_id=CHANNEL)
    peru, senegal = make_project(db), make_project(db, country="Senegal")
    lend(db, rules, LEAD, peru, 2_500, circle_id)
    lend(db, rules, ANA, senegal, 3_000, circle_id)
    lend(db, rules, ANA, peru, 4_000, None)  # not for the circle
    stats = circle_stats(db.sessions, LEAD, CHANNEL).value()
    assert (stats.members, stats.lent, stats.projects, stats.countries) == (
        2,
        5_500,
        2,
        ("Peru", "Senegal"),
    )
    refused = circle_stats(db.sessions, STRANGER, CHANNEL)
    assert refused.refusal is not None and refused.refusal.code == "no_circle"


def test_the_leaderboard_ranks_this_month_and_all_time(db: Database, rules: LendingRules) -> None:
    andes = make_circle(db)
    sahel = create_circle(db.sessions, BOB, "C0SAHEL", "Sahel").value().circle_id
    create_circle(db.sessions, STRANGER, "C0ELSE", "Elsewhere")
    now = utcnow()
    last_month = now.replace(day=1) - timedelta(days=3)
    project = make_project(db, 1_000_000, deadline=now + timedelta(days=60))
    lend(db, rules, LEAD, project, 9_000, andes, last_month)
    lend(db, rules, BOB, project, 4_000, sahel, now)
    lend(db, rules, BOB, project, 2_000, sahel, now)
    board = leaderboard(db.sessions, "T0001", now=now)
    assert [(r.rank, r.circle_id, r.lent, r.lenders) for r in board.this_month] == [
        (1, sahel, 6_000, 1)
    ]
    assert [(r.circle_id, r.lent) for r in board.all_time] == [(andes, 9_000), (sahel, 6_000)]
    assert [r.circle_id for r in leaderboard(db.sessions, "T0001", now=now, top=1).all_time] == [
        andes
    ]


def test_refunded_pledges_leave_the_circle_totals(db: Database, rules: LendingRules) -> None:
    circle_id = make_circle(db)
    project = make_project(db, deadline=utcnow() + timedelta(hours=1))
    lend(db, rules, LEAD, project, 2_000, circle_id)
    expire_due_projects(db.sessions, now=utcnow() + timedelta(hours=2))
    assert leaderboard(db.sessions, "T0001").all_time == ()


def test_impact_updates_reach_each_lender_once(db: Database, rules: LendingRules) -> None:
    project = make_project(db)
    lend(db, rules, ANA, project, 2_000, None)
    lend(db, rules, ANA, project, 2_000, None)
    lend(db, rules, BOB, project, 2_000, None)
    result = post_impact_update(
        db.sessions, project, "The harvest came in.", photo_url=None, posted_by="U0ADMIN"
    ).value()
    assert result.lenders_notified == 2
    expected = sorted(f"impact:{result.update_id}:{lender_id(db, who)}" for who in (ANA, BOB))
    with db.sessions() as session:
        keys = session.execute(
            select(Notification.dedupe_key).where(Notification.kind == "impact")
        ).scalars()
        assert sorted(keys) == expected
        assert session.execute(select(func.count()).select_from(ImpactUpdate)).scalar_one() == 1
    empty = post_impact_update(db.sessions, project, "  ", photo_url=None, posted_by="U0ADMIN")
    assert empty.refusal is not None and empty.refusal.code == "empty_update"


def test_programme_stats_add_up(db: Database, rules: LendingRules) -> None:
    make_circle(db)
    project = make_project(db, 4_000)
    lend(db, rules, ANA, project, 2_000, None)
    lend(db, rules, BOB, project, 2_000, None)
    stats = programme_stats(db.sessions)
    # The circle's lead has lent nothing yet: two lenders.
    assert (stats.lenders, stats.lent, stats.outstanding, stats.circles, stats.open_projects) == (
        2,
        4_000,
        4_000,
        1,
        0,
    )
