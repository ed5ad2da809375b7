"""Lending circles end to end: signed requests in, Web API calls and database rows out."""

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.devtools.emulator import Message, blockkit
from storage.circles.membership import CircleInfo, FeaturedProject, create_circle
from storage.circles.models import Circle, CircleMember
from storage.circles.statistics import CircleStats, Leaderboard, LeaderboardRow
from storage.db.clock import utcnow
from storage.lending.lenders import SlackIdentity
from storage.projects.models import Project
from templates.render import render_message
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


def test_leave_hands_the_lead_over(harness: Harness, team: tuple[str, ...]) -> None:
    lead, ana, channel = team
    create(harness, lead, channel)
    harness.command(ana, "circle join", channel)
    harness.command(lead, "circle leave", channel)
    assert f"<@{ana}> leads it now" in harness.reply_text(lead)
    harness.command(ana, "circle leave", channel)
    assert "You left" in harness.reply_text(ana)
    harness.command(ana, "circle leave", channel)
    assert "not a member" in harness.reply_text(ana)
    assert harness.count(CircleMember) == 0


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


HOSTILE = [
    "x" * 5_000,
    "<!channel> <@U0ANA> <https://evil.example|click>",
    "*bold* _it_ ~st~ `code` &amp; & < >",
    "Équipe 🌍👩🏽‍🌾 " * 300,
    "فريق الإقراض \u202e\u2066 טבעת",
]


def mrkdwn_texts(node: object) -> list[str]:
    if isinstance(node, list):
        return [text for child in node for text in mrkdwn_texts(child)]
    if not isinstance(node, dict):
        return []
    if node.get("type") == "mrkdwn":
        return [str(node.get("text", ""))]
    return [text for child in node.values() for text in mrkdwn_texts(child)]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_circle_names_render_within_limits(name: str) -> None:
    circle = CircleInfo(1, name, "C0CIRCLE", "U0LEAD", 50_000, True)
    stats = CircleStats(circle, 3, 12_000, 2, (name, "Peru"))
    row = LeaderboardRow(1, 1, name, "C0CIRCLE", 12_000, 3)
    board = Leaderboard(name, (row,) * 10, (row,) * 10)
    project = FeaturedProject(circle, 7, "K1", name, name, name, name, 100_000, 5_000, utcnow())
    rendered = [
        render_message(
            "circle_card.json.j2", circle=circle, kind=kind, inviter="U0ANA", currency="EUR"
        )
        for kind in ("created", "welcome", "invite")
    ] + [
        render_message("circle_stats.json.j2", stats=stats, currency="EUR"),
        render_message("circle_leaderboard.json.j2", board=board, currency="EUR"),
        render_message("circle_feature.json.j2", project=project, currency="EUR"),
        render_message("circle_done.json.j2", outcome="joined", name=name, user_id=None),
    ]
    for message in rendered:
        # plain_text is never parsed for mentions, so only mrkdwn and the fallback must escape.
        for text in [message.text, *mrkdwn_texts(message.blocks)]:
            assert "<!channel>" not in text and "<https://evil" not in text
        assert not blockkit.validate_message_blocks(message.blocks)
        assert not blockkit.message_text_too_long(message.text)


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
