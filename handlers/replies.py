"""What listeners answer with, shared: refusals, usage, button values and the Home tab.

Nothing Slack sends back is trusted: button values and `private_metadata` carry ids (and
the amount a lender chose), and every handler re-reads what they name and lets the
operation decide whether this person may do this.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from handlers.context import Reply, Services
from storage.circles.statistics import circle_totals
from storage.ledger.money import AmountError, parse_amount
from storage.lending import portfolio
from storage.lending.lenders import SlackIdentity
from storage.projects import catalogue
from storage.projects.catalogue import Choices, UnknownFilter
from templates.render import RenderedMessage, render_message

# How Slack writes a mention in a command's text: `<@U123ABC>` or `<@U123ABC|name>`.
MENTION = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|[^<>]{0,100})?>")
INTENT = re.compile(r"^[0-9a-f]{32}$")
BROWSE_HINT = "Find one with `/lend browse`, then copy its reference."
# The newest loans the Home tab shows; with the rest of the tab this stays far below the
# 100-block limit, and a lender with 500 loans sees these and a summary of all of them.
HOME_LOANS = 20
FEATURED = 3
# Home lists ten of a lender's circles and counts the rest, as far as this.
HOME_CIRCLES = 100


def problem(text: str, hint: str | None = None) -> Reply:
    """An answer that says what was wrong and what to do; nothing was changed."""
    return Reply(render_message("error.json.j2", problem=text, hint=hint))


def usage(template: str, text: str | None = None) -> Reply:
    """A help text (`/lend help`, the circle and admin ones), with what was wrong, if anything."""
    return Reply(render_message(template, problem=text or ""))


def unknown_filter(services: Services, unknown: UnknownFilter, choices: Choices) -> Reply:
    """What a filter word that names nothing answers: the names closest to it, and every
    country and sector there is to choose from."""
    return Reply(
        services.message(
            "filter_unknown.json.j2",
            word=unknown.word,
            suggestions=unknown.suggestions,
            choices=choices,
        )
    )


def ids_from(text: str, *required: str) -> dict[str, Any] | None:
    """The JSON object a button value or private_metadata holds, if it has the required ints."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if any(not isinstance(data.get(key), int) or isinstance(data[key], bool) for key in required):
        return None
    return data


def amount_words(words: list[str]) -> str | None:
    """An amount typed as one word or a few ("20", "20 EUR", "€ 20"); None when more than one
    of the words is a number ("20 300" is not read as 20,300)."""
    if sum(any(char.isdigit() for char in word) for word in words) > 1:
        return None
    return " ".join(words)


def leading_amount(words: list[str], currency: str) -> tuple[int, list[str]]:
    """The amount at the start of ``words`` (one word, or two as in "10 EUR" or "€ 10") and
    the words after it; AmountError when they do not start with one."""
    if len(words) >= 2 and sum(any(c.isdigit() for c in word) for word in words[:2]) == 1:
        try:
            return parse_amount(" ".join(words[:2]), currency=currency), words[2:]
        except AmountError:
            pass  # "10 flood": the second word is not part of the amount
    return parse_amount(words[0] if words else "", currency=currency), words[1:]


def new_intent() -> str:
    """The id a money-moving button carries: its operation's idempotency key."""
    return uuid.uuid4().hex


def button_value(body: dict[str, Any]) -> str:
    return str((body.get("actions") or [{}])[0].get("value", ""))


def respond_with(respond: Respond, rendered: RenderedMessage, **options: Any) -> None:
    respond(text=rendered.text, blocks=rendered.blocks, **options)


def modal_input(body: dict[str, Any], block: str) -> dict[str, Any]:
    """What the person left in one input block of a submitted modal."""
    values = body.get("view", {}).get("state", {}).get("values", {})
    found: dict[str, Any] = next(iter((values.get(block) or {}).values()), {}) or {}
    return found


def field_errors(**errors: str) -> dict[str, Any]:
    """A modal submission's answer that shows the errors beside their fields."""
    return {"response_action": "errors", "errors": errors}


def home_view(services: Services, identity: SlackIdentity) -> dict[str, Any]:
    """The Home view: a fixed number of statements, however many loans the lender has."""
    now = services.clock()
    with services.db.reads() as session:
        held = portfolio.lender_portfolio(session, identity, limit=HOME_LOANS)
        featured = catalogue.featured(session, now, limit=FEATURED)
        circles = portfolio.lender_circles(session, identity, HOME_CIRCLES)
        together = circle_totals(session, [circle.id for circle in circles])
        totals = portfolio.company_totals(session)
    return services.view(
        "home.json.j2",
        portfolio=held,
        featured=featured,
        circles=circles,
        together=together,
        totals=totals,
    )


def publish_home(client: WebClient, services: Services, identity: SlackIdentity) -> None:
    """Show the lender their current Home tab: when they open it, and after they act."""
    client.views_publish(user_id=identity.user_id, view=home_view(services, identity))
