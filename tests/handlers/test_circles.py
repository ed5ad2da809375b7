"""Lending circles end to end: signed requests in, Web API calls and database rows out."""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.devtools.emulator import Message
from storage.circles.membership import create_circle
from storage.circles.models import Circle, CircleMember
from storage.db.clock import utcnow
from storage.lending.lenders import SlackIdentity
from storage.lending.models import Lender
from storage.lending.pledges import PledgeRequest, pledge
from storage.projects.lifecycle import expire_due_projects
from storage.projects.models import Project
from tests.factories import make_project
from tests.harness import Harness, button_values, text_of


@pytest.fixture
def team(harness: Harness) -> tuple[str, str, str]:
    """A lead, a colleague and the channel they share."""
    lead, ana = harness.user("lea"), harness.user("ana")
    return lead.id, ana.id, harness.channel("team-andes", [lead.id, ana.id])


def create(harness: Harness, lead: str, channel: str, text: str = "Team Andes goal 500") -> None:
    harness.command(lead, f"circle create {text}", channel)


def forged(message: Message, action_id: str, value: str) -> Message:
    """The same message with one button's value changed, as a hostile client could send it."""
    blocks = copy.deepcopy(message.blocks)
    for block in blocks:
        for element in [block.get("accessory"), *(block.get("elements") or [])]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                element["value"] = value
    return dataclasses.replace(message, blocks=blocks)


def channel_posts(harness: Harness, channel: str) -> list[Message]:
    return [m for m in harness.slack.messages(channel) if not m.ephemeral_to]


def test_create_posts_a_card_with_a_join_button(harness: Harness, team: tuple[str, ...]) -> None:
    lead, _ana, channel = team
    create(harness, lead, channel)
    posts = channel_posts(harness, channel)
    assert len(posts) == 1 and "Team Andes" in text_of(posts[0])
    assert "€500.00" in text_of(posts[0])
    assert len(button_values(posts[0], "circle_join")) == 1
    assert (harness.count(Circle), harness.count(CircleMember)) == (1, 1)


def test_create_refuses_a_second_circle_and_a_dm(harness: Harness, team: tuple[str, ...]) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    create(harness, ana, channel, "Mine")
    assert "already the lending circle" in harness.reply_text(ana)
    harness.command(ana, "circle create Solo")
    assert "in the channel" in harness.reply_text(ana)
    assert harness.count(Circle) == 1


def test_join_command_and_button_are_idempotent(harness: Harness, team: tuple[str, ...]) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    card = channel_posts(harness, channel)[0]
    harness.click(ana, "circle_join", within=card)
    assert "You joined" in harness.reply_text(ana)
    harness.click(ana, "circle_join", within=card)
    assert "already a member" in harness.reply_text(ana)
    harness.command(ana, "circle join", channel)
    assert "already a member" in harness.reply_text(ana)
    assert harness.count(CircleMember) == 2


@pytest.mark.parametrize("value", ['{"circle": 999}', '{"circle": "1"}', "1", "<!channel>"])
def test_a_forged_join_button_changes_nothing(
    harness: Harness, team: tuple[str, ...], value: str
) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    card = forged(channel_posts(harness, channel)[0], "circle_join", value)
    harness.click(ana, "circle_join", within=card)
    assert "You joined" not in harness.reply_text(ana)
    assert harness.count(CircleMember) == 1


def lead_of(harness: Harness, channel: str) -> str:
    with harness.db.sessions() as session:
        return session.execute(
            select(Lender.slack_user_id)
            .join(Circle, Circle.lead_id == Lender.id)
            .where(Circle.channel_id == channel)
        ).scalar_one()


def asked_to_leave(harness: Harness, lead: str, channel: str) -> Message:
    """The lead's `/lend circle leave`: a confirmation (a copy: answering it edits it)."""
    harness.command(lead, "circle leave", channel)
    return copy.deepcopy(harness.reply(lead))


def test_a_member_leaves_at_once(harness: Harness, team: tuple[str, ...]) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    harness.command(ana, "circle join", channel)
    harness.command(ana, "circle leave", channel)
    assert "You left *Team Andes*" in harness.reply_text(ana)
    harness.command(ana, "circle leave", channel)
    assert "not a member" in harness.reply_text(ana)
    assert harness.count(CircleMember) == 1


def test_a_leaving_lead_confirms_first_and_the_new_lead_is_told(
    harness: Harness, team: tuple[str, ...]
) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    harness.command(ana, "circle join", channel)

    asked = asked_to_leave(harness, lead, channel)
    assert f"If you leave, <@{ana}>, its earliest member, leads it" in text_of(asked)
    harness.click(lead, "circle_leave_cancel", within=asked)
    assert "Nothing changed: you still lead" in harness.reply_text(lead)
    assert (harness.count(CircleMember), lead_of(harness, channel)) == (2, lead)

    asked = asked_to_leave(harness, lead, channel)
    click = harness.click(lead, "circle_leave_confirm", within=asked)
    answer = f"You left *Team Andes*; <@{ana}> leads it now"
    assert answer in harness.reply_text(lead)
    harness.click(lead, "circle_leave_confirm", within=asked)  # a double click
    harness.resend(click)  # and Slack's retry of the first
    assert answer in harness.reply_text(lead)
    assert (harness.count(CircleMember), lead_of(harness, channel)) == (1, ana)

    harness.deliver()
    [told] = harness.slack.dms(ana)
    assert f"<@{lead}> left the lending circle *Team Andes*, and you lead it now" in text_of(told)
    assert harness.slack.dms(lead) == []


def test_the_last_member_is_told_the_circle_closes(harness: Harness, team: tuple[str, ...]) -> None:
    lead, _ana, channel = team
    create(harness, lead, channel)
    asked = asked_to_leave(harness, lead, channel)
    assert "You are its last member: if you leave, the circle closes" in text_of(asked)
    assert harness.count(CircleMember) == 1
    harness.click(lead, "circle_leave_confirm", within=asked)
    assert "the circle is closed" in harness.reply_text(lead)
    assert harness.count(CircleMember) == 0


@pytest.mark.parametrize("value", ['{"circle": 1}', '{"circle": 1, "i": "x"}', "<!channel>"])
def test_a_forged_leave_confirmation_changes_nothing(
    harness: Harness, team: tuple[str, ...], value: str
) -> None:
    lead, _ana, channel = team
    create(harness, lead, channel)
    asked = forged(asked_to_leave(harness, lead, channel), "circle_leave_confirm", value)
    harness.click(lead, "circle_leave_confirm", within=asked)
    assert "not valid any more" in harness.reply_text(lead)
    assert harness.count(CircleMember) == 1


def test_invite_sends_a_dm_with_a_join_button(harness: Harness, team: tuple[str, ...]) -> None:
    lead, _ana, channel = team
    bob = harness.user("bob")
    create(harness, lead, channel)
    harness.command(lead, f"circle invite <@{bob.id}|bob>", channel)
    assert f"<@{bob.id}> is invited to *Team Andes*" in harness.reply_text(lead)
    harness.command(lead, f"circle invite <@{bob.id}>", channel)
    assert "was already invited" in harness.reply_text(lead)
    assert harness.slack.dms(bob.id) == []  # it goes through the outbox, in bob's hours
    harness.deliver()
    [invitation] = harness.slack.dms(bob.id)
    assert f"<@{lead}> invites you" in text_of(invitation)
    harness.click(bob.id, "circle_join", within=invitation)
    assert "You joined" in harness.reply_text(bob.id)
    harness.command(lead, f"circle invite <@{bob.id}>", channel)
    assert "already a member" in harness.reply_text(lead)
    assert len(harness.slack.dms(bob.id)) == 1


@pytest.mark.parametrize(
    "text",
    [
        "circle invite bob",
        "circle invite @bob",
        "circle invite <@U1|a> <@U2|b>",
        "circle invite <!channel>",
    ],
)
def test_invite_needs_exactly_one_mention(
    harness: Harness, team: tuple[str, ...], text: str
) -> None:
    lead, _ana, channel = team
    create(harness, lead, channel)
    harness.command(lead, text, channel)
    assert "Name one person" in harness.reply_text(lead)
    assert harness.calls("chat.postMessage") == []


def test_only_members_invite(harness: Harness, team: tuple[str, ...]) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    harness.command(ana, f"circle invite <@{lead}>", channel)
    assert "Join the circle first" in harness.reply_text(ana)


def project_reference(harness: Harness, project_id: int) -> str:
    with harness.db.sessions() as session:
        return session.get_one(Project, project_id).reference


def test_the_lead_features_a_project_with_a_lend_button(
    harness: Harness, team: tuple[str, ...]
) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    harness.command(ana, "circle join", channel)
    reference = project_reference(harness, make_project(harness.db))
    harness.command(ana, f"circle feature {reference}", channel)
    assert "Only the circle's lead" in harness.reply_text(ana)
    assert len(channel_posts(harness, channel)) == 1
    harness.command(lead, f"circle feature {reference}", channel)
    post = channel_posts(harness, channel)[-1]
    assert reference in text_of(post)
    (value,) = button_values(post, "lend")
    harness.click(ana, "lend", value, within=post)
    assert "Team Andes" in text_of(harness.modal(ana))


def test_featuring_a_closed_project_is_refused(harness: Harness, team: tuple[str, ...]) -> None:
    lead, _ana, channel = team
    create(harness, lead, channel)
    closed = make_project(harness.db, deadline=utcnow() - timedelta(days=1))
    harness.command(lead, f"circle feature {project_reference(harness, closed)}", channel)
    assert "no longer raising money" in harness.reply_text(lead)


def test_a_fully_funded_project_cannot_be_featured(harness: Harness, team: tuple[str, ...]) -> None:
    lead, _ana, channel = team
    create(harness, lead, channel)
    funded = make_project(harness.db, 5_000)
    pledge_for_circle(harness, lead, None, funded, 5_000)
    harness.command(lead, f"circle feature {project_reference(harness, funded)}", channel)
    assert "no longer raising money" in harness.reply_text(lead)
    assert len(channel_posts(harness, channel)) == 1


def pledge_for_circle(
    harness: Harness, user_id: str, channel: str | None, project_id: int, amount: int
) -> None:
    """A pledge the person makes (for the circle of ``channel``, if one is named)."""
    with harness.db.sessions() as session:
        lender = session.execute(
            select(Lender.id).where(Lender.slack_user_id == user_id)
        ).scalar_one()
    circle = circle_id_in(harness, channel) if channel else None
    request = PledgeRequest(lender, project_id, amount, circle_id=circle)
    assert pledge(harness.db.sessions, request, harness.services.rules, key=None).ok


def post_about(harness: Harness, channel: str, project_id: int, words: str) -> Message:
    reference = project_reference(harness, project_id)
    (post,) = [
        post
        for post in channel_posts(harness, channel)
        if reference in text_of(post) and words in text_of(post)
    ]
    return post


def test_a_pledge_post_offers_lend_only_while_the_project_still_raises_money(
    harness: Harness, team: tuple[str, ...]
) -> None:
    """What the project is when the post goes out decides, not what it was when queued."""
    lead, ana, channel = team
    create(harness, lead, channel)
    harness.command(ana, "circle join", channel)
    raising = make_project(harness.db, 100_000)
    filled = make_project(harness.db, 5_000)
    closing = make_project(harness.db, 100_000, deadline=utcnow() + timedelta(hours=1))
    for project, amount in ((raising, 2_000), (filled, 3_000), (closing, 2_000)):
        pledge_for_circle(harness, ana, channel, project, amount)
    pledge_for_circle(harness, lead, None, filled, 2_000)
    expire_due_projects(harness.db.sessions, now=utcnow() + timedelta(hours=2))

    harness.deliver()

    still_open = post_about(harness, channel, raising, "lent *€20.00* for the circle")
    assert len(button_values(still_open, "lend")) == 1
    assert "€980.00 still needed" in text_of(still_open)
    for project, state in ((filled, "*Fully funded*"), (closing, "*Closed*")):
        post = post_about(harness, channel, project, "for the circle")
        assert button_values(post, "lend") == []
        assert f"{state}: it takes no more pledges" in text_of(post)
        assert "still needed" not in text_of(post)


def test_only_the_lead_switches_the_summary(harness: Harness, team: tuple[str, ...]) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    harness.command(ana, "circle join", channel)
    harness.command(ana, "circle summary off", channel)
    assert "Only the circle's lead" in harness.reply_text(ana)
    assert harness.count(Circle, Circle.weekly_summary.is_(True)) == 1
    harness.command(lead, "circle summary off", channel)
    assert "is off" in harness.reply_text(lead)
    assert harness.count(Circle, Circle.weekly_summary.is_(False)) == 1
    harness.command(lead, "circle summary maybe", channel)
    assert "summary on" in harness.reply_text(lead)


def test_stats_and_leaderboard(harness: Harness, team: tuple[str, ...]) -> None:
    lead, _ana, channel = team
    harness.command(lead, "circle", channel)
    assert "not a lending circle" in harness.reply_text(lead)
    create(harness, lead, channel)
    harness.command(lead, "circle", channel)
    stats = harness.reply_text(lead)
    assert "1 member" in stats and "€0.00" in stats and "0%" in stats
    harness.command(lead, "circles")
    assert "No circle has lent yet" in harness.reply_text(lead)


def test_usage_for_unknown_circle_words(harness: Harness, team: tuple[str, ...]) -> None:
    lead, _ana, channel = team
    harness.command(lead, "circle <!channel>", channel)
    answer = harness.reply_text(lead)
    assert "is not a circle command" in answer and "<!channel>" not in answer


def test_newcomers_to_the_channel_are_welcomed_privately(
    harness: Harness, team: tuple[str, ...]
) -> None:
    lead, _ana, channel = team
    create(harness, lead, channel)
    carla = harness.user("carla")
    harness.slack.state.channels[channel].members.append(carla.id)
    event = {"type": "member_joined_channel", "user": carla.id, "channel": channel}
    delivery = harness.event(event)
    (welcome,) = harness.ephemerals(carla.id)
    assert "Welcome" in text_of(welcome) and button_values(welcome, "circle_join")
    harness.resend(delivery)
    assert len(harness.ephemerals(carla.id)) == 1


def test_another_organisation_cannot_see_or_change_a_circle(harness: Harness) -> None:
    """A circle of another organisation in a channel with the same id stays invisible."""
    lead = harness.user("lea")
    channel = harness.channel("shared-id", [lead.id])
    stranger = SlackIdentity("U0STRANGER", "T0OTHER")
    circle_id = create_circle(harness.db.sessions, stranger, channel, "Theirs").value().circle_id
    reference = project_reference(harness, make_project(harness.db))
    for text in ("circle", "circle join", "circle summary off", f"circle feature {reference}"):
        harness.command(lead.id, text, channel)
        assert "not a lending circle" in harness.reply_text(lead.id)
    # A Join button forged to name their circle, clicked on our own circle's card.
    own = harness.channel("own", [lead.id])
    create(harness, lead.id, own, "Ours")
    card = forged(channel_posts(harness, own)[0], "circle_join", f'{{"circle":{circle_id}}}')
    harness.click(lead.id, "circle_join", within=card)
    assert "not a lending circle" in harness.reply_text(lead.id)
    harness.command(lead.id, "circles")
    assert "Theirs" not in harness.reply_text(lead.id)
    assert harness.count(CircleMember, CircleMember.circle_id == circle_id) == 1
    assert harness.count(Circle, Circle.weekly_summary.is_(True)) == 2


def test_a_name_too_long_is_refused(harness: Harness, team: tuple[str, ...]) -> None:
    lead, _ana, channel = team
    create(harness, lead, channel, "x" * 5_000)
    assert "at most 80 characters" in harness.reply_text(lead)
    assert harness.count(Circle) == 0


def test_a_forged_join_button_opens_no_circle_whose_channel_one_is_not_in(
    harness: Harness,
) -> None:
    """The Join button of one circle's card, forged to name a private circle elsewhere."""
    lead, eve = harness.user("lea"), harness.user("eve")
    private = harness.channel("board", [lead.id])
    create(harness, lead.id, private, "Board")
    secret = circle_id_in(harness, private)
    public = harness.channel("open", [lead.id, eve.id])
    create(harness, lead.id, public, "Open")
    card = forged(channel_posts(harness, public)[0], "circle_join", f'{{"circle":{secret}}}')
    harness.click(eve.id, "circle_join", within=card)
    assert "Only people in the circle's channel, or invited" in harness.reply_text(eve.id)
    assert harness.count(CircleMember, CircleMember.circle_id == secret) == 1
    # Someone who is in that channel may join from anywhere: Slack lists them as a member.
    harness.slack.state.channels[private].members.append(eve.id)
    harness.click(eve.id, "circle_join", within=card)
    assert "You joined *Board*" in harness.reply_text(eve.id)


def circle_id_in(harness: Harness, channel: str) -> int:
    with harness.db.sessions() as session:
        return session.execute(select(Circle.id).where(Circle.channel_id == channel)).scalar_one()


def test_home_shows_each_circle_what_the_circle_command_shows(
    harness: Harness, team: tuple[str, str, str]
) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    harness.command(ana, "circle join", channel)
    projects = [make_project(harness.db, amount=10_000) for _ in range(2)]
    # Two pledges for the circle, one of them to a project that then expires; one outside it.
    doomed = make_project(harness.db, deadline=utcnow() + timedelta(hours=1))
    for project_id, where in [(projects[0], channel), (doomed, channel), (projects[1], None)]:
        pledge_for_circle(harness, ana, where, project_id, 2_500)
    expire_due_projects(harness.db.sessions, now=utcnow() + timedelta(hours=2))
    harness.command(ana, "circle", channel)
    assert "*Lent together*\n€25.00" in harness.reply_text(ana)
    harness.open_home(ana)
    home = text_of(harness.home(ana))
    assert f"<#{channel}> · €25.00 lent together to 1 project" in home
    assert "Everyone in the programme has lent €50.00 to 2 projects." in home


def test_the_pledge_that_fills_a_project_is_posted_before_the_funding(
    harness: Harness, team: tuple[str, str, str]
) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    harness.command(ana, "circle join", channel)
    project = make_project(harness.db, 5_000)
    pledge_for_circle(harness, ana, channel, project, 5_000)
    harness.deliver()
    texts = [text_of(post) for post in channel_posts(harness, channel)]
    lent = next(i for i, text in enumerate(texts) if "lent *€50.00* for the circle" in text)
    funded = next(i for i, text in enumerate(texts) if "Fully funded:" in text)
    assert lent < funded


def test_a_lead_confirms_only_the_handover_they_were_shown(
    harness: Harness, team: tuple[str, str, str]
) -> None:
    lead, ana, channel = team
    bea = harness.user("bea").id
    harness.slack.state.channels[channel].members.append(bea)
    create(harness, lead, channel)
    harness.command(ana, "circle join", channel)
    harness.command(bea, "circle join", channel)
    asked = asked_to_leave(harness, lead, channel)
    assert f"<@{ana}>, its earliest member, leads it" in text_of(asked)
    harness.command(ana, "circle leave", channel)  # meanwhile the named successor leaves
    harness.click(lead, "circle_leave_confirm", within=asked)
    assert "someone else would lead it now" in harness.reply_text(lead)
    assert lead_of(harness, channel) == lead and harness.count(CircleMember) == 2
