"""Every circle template with hostile circle names: nothing pings or links, everything fits Block
Kit, and a name's own `*`, `_`, `~` and backticks never break the bold or code around it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.emulator import blockkit
from storage.circles.membership import CircleInfo, Departure, FeaturedProject
from storage.circles.statistics import CircleStats, CircleWeek, Leaderboard, LeaderboardRow
from storage.notifications.facts import CirclePost, Invite, LenderNews, NewLead, ProjectFacts
from templates.mrkdwn import inert_formatting
from templates.render import RenderedMessage, render_message
from tests.slack_models import assert_valid_blocks

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Every message that names a circle: the answers and posts of circles, and the DMs about them.
CIRCLE_TEMPLATES = sorted(
    [path.name for path in TEMPLATES.glob("circle_*.json.j2")]
    + [f"notifications/{path.name}" for path in (TEMPLATES / "notifications").glob("circle_*")]
    + ["notifications/invite.json.j2", "notifications/new_lead.json.j2"]
)
HOSTILE = [
    "x" * 5_000,
    "<!channel> <@U123> <https://evil.example|click>",
    "*bold* _it_ ~st~ `code` *",
    "`",
    "Équipe 🌍👩🏽‍🌾 " * 300,
    "فريق الإقراض \u202e\u2066 טבעת",
]
FORMATTING = "*_~`"
DEADLINE = datetime(2026, 2, 1)
OUTCOMES = [
    "joined",
    "already_member",
    "left",
    "handed_over",
    "closed",
    "stayed",
    "not_member",
    "invited",
    "already_invited",
    "invitee_member",
    "summary_on",
    "summary_off",
]


def context(name: str) -> dict[str, Any]:
    """What any circle template may ask for, with ``name`` as every circle's name."""
    circle = CircleInfo(1, name, "C0CIRCLE", "U0LEAD", 50_000, True)
    project = ProjectFacts(7, "K7", "Rosa", "Peru", "to buy seeds", "Agriculture", 50_000, 0, None)
    row = LeaderboardRow(1, 1, name, "C0CIRCLE", 12_000, 3)
    week = CircleWeek(date(2026, 1, 5), 10_000, 4, 2, 550)
    return {
        "currency": "EUR",
        "circle": circle,
        "kind": "created",
        "inviter": "U0ANA",
        "outcome": "joined",
        "name": name,
        "user_id": "U0ANA",
        "problem": "",
        "intent": "0" * 32,
        "project": FeaturedProject(
            circle,
            7,
            "K7",
            "Rosa",
            "seeds",
            "Peru",
            "Farming",
            100_000,
            5_000,
            datetime(2026, 2, 1),
            12,
        ),
        "stats": CircleStats(circle, members=3, lent=12_000, projects=2, countries=("Peru",)),
        "board": Leaderboard("January 2026", (row,) * 10, (row,) * 10),
        "departure": Departure(1, name, False, True, True, "U0ANA"),
        "post": CirclePost(
            "circle_pledge", name, 100_000, 45_000, project, 5_000, 500, 2_500, "U0ANA", week
        ),
        "news": LenderNews(
            available=0,
            invites=(Invite(1, name, "U0ANA"),),
            leads=(NewLead(name, "C0CIRCLE", "U0LEAD"),),
        ),
        "period": None,
    }


def variants(template: str, name: str) -> Iterator[dict[str, Any]]:
    """The ways a template can speak: each kind of card, each answer, each confirmation."""
    if template == "circle_card.json.j2":
        yield from ({"kind": kind} for kind in ("created", "welcome", "invite"))
    elif template == "circle_done.json.j2":
        yield from ({"outcome": outcome} for outcome in OUTCOMES)
    elif template == "circle_leave_confirm.json.j2":
        yield {}
        yield {"departure": Departure(1, name, False, True, True, None)}
    else:
        yield {}


def rendered(template: str, name: str) -> list[RenderedMessage]:
    return [
        render_message(template, **{**context(name), **variant})
        for variant in variants(template, name)
    ]


def mrkdwn_texts(node: object) -> list[str]:
    if isinstance(node, list):
        return [text for child in node for text in mrkdwn_texts(child)]
    if not isinstance(node, dict):
        return []
    if node.get("type") == "mrkdwn":
        return [str(node.get("text", ""))]
    return [text for child in node.values() for text in mrkdwn_texts(child)]


def parsed_text(message: RenderedMessage) -> str:
    """What Slack parses as mrkdwn: the fallback text and every mrkdwn object."""
    return "\n".join([message.text, *mrkdwn_texts(message.blocks)])


def formatting(message: RenderedMessage) -> dict[str, int]:
    text = parsed_text(message)
    return {char: text.count(char) for char in FORMATTING}


def test_the_circle_templates_are_found() -> None:
    assert "circle_done.json.j2" in CIRCLE_TEMPLATES
    assert "notifications/circle_summary.json.j2" in CIRCLE_TEMPLATES
    assert len(CIRCLE_TEMPLATES) >= 14


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("template", CIRCLE_TEMPLATES)
def test_a_hostile_circle_name_stays_inert_inside_its_formatting(template: str, name: str) -> None:
    for message, plain in zip(rendered(template, name), rendered(template, "Team"), strict=True):
        text = parsed_text(message)
        for token in ("<!channel>", "<@U123>", "<https://evil"):
            assert token not in text
        # Every `*`, `_`, `~` and backtick Slack sees is the template's own, as with a plain name.
        assert formatting(message) == formatting(plain)
        assert not blockkit.validate_message_blocks(message.blocks)
        assert not blockkit.message_text_too_long(message.text)
        assert_valid_blocks(message.blocks)


def test_a_name_keeps_its_look_inside_bold() -> None:
    (message,) = rendered("circle_leaderboard.json.j2", "*Team* _Andes_")
    assert f"*{inert_formatting('*Team* _Andes_')}*" in parsed_text(message)


def test_a_featured_project_says_its_days_left_as_cards_do() -> None:
    # Cards say "N days left"; the post stays in the channel, so it adds the date it means.
    post = render_message("circle_feature.json.j2", **context("Team Lima"))
    assert "12 days left (until " in json.dumps(post.blocks, ensure_ascii=False)
