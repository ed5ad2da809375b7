"""Lending: `/lend pledge`, the Lend button and its modal, and the confirmation.

A pledge is previewed first (what it does to the person's credit and payroll, decided by the
same rules the pledge applies), then made once per intent: the Confirm button carries an
intent id that is the pledge's idempotency key, so a second click or a replay moves nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from handlers.acks import on_action
from handlers.context import CommandRequest, Reply, Services, Subcommands, identity_of
from handlers.replies import (
    BROWSE_HINT,
    INTENT,
    amount_words,
    button_value,
    field_errors,
    ids_from,
    modal_input,
    new_intent,
    problem,
    publish_home,
    respond_with,
)
from storage.db.unit_of_work import Refused, recorded
from storage.ledger.money import AmountError, parse_amount
from storage.lending import portfolio
from storage.lending.lenders import SlackIdentity
from storage.lending.pledges import PledgePlan, PledgeRequest, PledgeResult, plan_pledge, pledge
from storage.lending.portfolio import CircleChoice
from storage.projects import catalogue
from storage.projects.catalogue import ProjectCard
from storage.projects.references import find_project

# A select holds at most 100 options in Block Kit; one is "No circle".
CIRCLE_CHOICES = 99


@dataclass(frozen=True)
class PledgeIntent:
    """A pledge the lender is about to confirm: ids and amount only, re-checked on confirm."""

    project_id: int
    amount: int
    circle_id: int | None
    intent: str

    def to_value(self) -> str:
        return json.dumps(
            {"p": self.project_id, "a": self.amount, "c": self.circle_id, "i": self.intent}
        )

    @classmethod
    def from_value(cls, text: str) -> PledgeIntent | None:
        data = ids_from(text, "p", "a")
        circle = data.get("c") if data else None
        if data is None or not INTENT.match(str(data.get("i"))) or data["a"] <= 0:
            return None
        if circle is not None and (isinstance(circle, bool) or not isinstance(circle, int)):
            return None
        return cls(data["p"], data["a"], circle, str(data["i"]))

    def counting_for(self, circle_id: int | None) -> PledgeIntent:
        """The same intent counted for another circle (or none): still one pledge at most."""
        return replace(self, circle_id=circle_id)


@dataclass(frozen=True)
class Proposal:
    card: ProjectCard
    plan: PledgePlan
    intent: PledgeIntent
    # The lender's circles, any of which (or none) the pledge may count for.
    circles: tuple[CircleChoice, ...] = ()


def channel_circle(circles: tuple[CircleChoice, ...], channel_id: str | None) -> int | None:
    """The circle of the channel the lender is lending from, if they belong to it: a pledge
    made there counts for it unless they choose otherwise."""
    return next((c.id for c in circles if channel_id and c.channel_id == channel_id), None)


def _request(identity: SlackIdentity, intent: PledgeIntent) -> PledgeRequest:
    return PledgeRequest(identity, intent.project_id, intent.amount, circle_id=intent.circle_id)


def propose(services: Services, identity: SlackIdentity, intent: PledgeIntent) -> Proposal | str:
    """What the pledge would do, for the confirmation; or why it cannot be made."""
    now = services.clock()
    with services.db.reads() as session:
        card = catalogue.open_card(session, intent.project_id, now)
        if card is None:
            return "That project is no longer raising money. Find another with `/lend browse`."
        try:
            plan = plan_pledge(session, _request(identity, intent), services.rules, now)
        except Refused as refused:
            return refused.refusal.message
        circles = portfolio.lender_circles(session, identity, CIRCLE_CHOICES)
    return Proposal(card, plan, intent, _with_chosen(circles, plan))


def _with_chosen(circles: tuple[CircleChoice, ...], plan: PledgePlan) -> tuple[CircleChoice, ...]:
    """The choices shown, the chosen circle among them even past the first (a select's
    initial option must be one of its options)."""
    if plan.circle_id is None or any(c.id == plan.circle_id for c in circles):
        return circles
    chosen = CircleChoice(plan.circle_id, plan.circle_name or "", "")
    return (chosen, *circles[: CIRCLE_CHOICES - 1])


def _amount(services: Services, text: str) -> int | str:
    try:
        return parse_amount(text, currency=services.rules.currency)
    except AmountError as error:
        return str(error)


def pledge_command(request: CommandRequest) -> Reply:
    services = request.services
    if len(request.args) < 2:
        return problem("Say which project and how much, like `/lend pledge K758103 25`.")
    typed = amount_words(request.args[1:])
    if typed is None:
        return problem("Give one amount, like `/lend pledge K758103 25` or `25 EUR`.")
    amount = _amount(services, typed)
    if isinstance(amount, str):
        return problem(amount)
    with services.db.reads() as session:
        try:
            found = find_project(session, request.args[0])
        except Refused as refused:
            return problem(refused.refusal.message, BROWSE_HINT)
        circles = portfolio.lender_circles(session, request.identity, CIRCLE_CHOICES)
    intent = PledgeIntent(
        found.id, amount, channel_circle(circles, request.channel_id), new_intent()
    )
    proposal = propose(services, request.identity, intent)
    if isinstance(proposal, str):
        return problem(proposal)
    return Reply(services.message("pledge_confirm.json.j2", proposal=proposal))


def confirm_pledge(
    services: Services, identity: SlackIdentity, intent: PledgeIntent
) -> dict[str, Any]:
    """Lend, once per intent: a second click replays the first result and moves nothing.

    Returns what `pledge_done` templates (message and modal) show.
    """
    key = f"pledge:{identity.org_key}:{identity.user_id}:{intent.intent}"
    outcome = pledge(
        services.db.sessions,
        _request(identity, intent),
        services.rules,
        key=key,
        now=services.clock(),
    )
    if outcome.refusal and outcome.refusal.code == "idempotency_conflict":
        # An older copy of this confirmation (another circle chosen): it was lent once, as
        # the copy confirmed first said; tell what was done.
        done = recorded(services.db.sessions, key, PledgeResult)
        return {"result": done, "refusal": None if done else outcome.refusal, "replayed": True}
    return {"result": outcome.result, "refusal": outcome.refusal, "replayed": outcome.replayed}


def open_pledge_modal(
    client: WebClient, services: Services, identity: SlackIdentity, body: dict[str, Any]
) -> None:
    """The Lend button: a modal with the amount, how it is paid, and the circle it counts for."""
    data = ids_from(button_value(body), "project")
    with services.db.reads() as session:
        card = data and catalogue.open_card(session, data["project"], services.clock())
        available = portfolio.balances(session, identity).available
        circles = portfolio.lender_circles(session, identity, CIRCLE_CHOICES)
    if not card:
        modal = services.view(
            "error_modal.json.j2", problem="That project is no longer raising money."
        )
    else:
        # The circle the button names (a circle's featured project), else the channel's own.
        named = data.get("circle") if data else None
        chosen = named if any(c.id == named for c in circles) else None
        modal = services.view(
            "pledge_modal.json.j2",
            card=card,
            available=available,
            circles=circles,
            chosen_circle=chosen or channel_circle(circles, body.get("channel", {}).get("id")),
            minimum=services.rules.min_pledge,
            suggested=min(services.rules.min_pledge, card.still_needed),
        )
    client.views_open(trigger_id=body["trigger_id"], view=modal)


def submit_pledge_modal(
    services: Services, identity: SlackIdentity, body: dict[str, Any]
) -> dict[str, Any]:
    """The modal's answer: field errors, or the confirmation pushed in its place."""
    data = ids_from(body.get("view", {}).get("private_metadata", ""), "project")
    if data is None:
        return field_errors(amount="This form has expired.")
    amount = _amount(services, str(modal_input(body, "amount").get("value") or ""))
    if isinstance(amount, str):
        return field_errors(amount=amount)
    circle_option = modal_input(body, "circle").get("selected_option") or {}
    circle = str(circle_option.get("value", ""))
    intent = PledgeIntent(
        data["project"], amount, int(circle) if circle.isdigit() else None, new_intent()
    )
    proposal = propose(services, identity, intent)
    if isinstance(proposal, str):
        return field_errors(amount=proposal)
    confirm = services.view("pledge_confirm_modal.json.j2", proposal=proposal)
    return {"response_action": "update", "view": confirm}


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    subcommands["pledge"] = pledge_command

    @on_action(app, "lend")
    def on_lend(body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        open_pledge_modal(client, services, identity_of(context, body), body)

    @on_action(app, "pledge_circle")
    def on_circle_chosen(body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
        option = (body.get("actions") or [{}])[0].get("selected_option") or {}
        intent = PledgeIntent.from_value(str(option.get("value", "")))
        if intent is None:
            respond_with(respond, problem("That choice has expired; pledge again.").message)
            return
        proposal = propose(services, identity_of(context, body), intent)
        if isinstance(proposal, str):
            respond_with(respond, problem(proposal).message, replace_original=True)
            return
        confirm = services.message("pledge_confirm.json.j2", proposal=proposal)
        respond_with(respond, confirm, replace_original=True)

    @on_action(app, "pledge_confirm")
    def on_confirm(
        body: dict[str, Any], context: BoltContext, respond: Respond, client: WebClient
    ) -> None:
        intent = PledgeIntent.from_value(button_value(body))
        if intent is None:
            respond_with(respond, problem("That button has expired; pledge again.").message)
            return
        identity = identity_of(context, body)
        done = confirm_pledge(services, identity, intent)
        respond_with(
            respond, services.message("pledge_done.json.j2", **done), replace_original=True
        )
        publish_home(client, services, identity)

    @on_action(app, "pledge_cancel")
    def on_cancel(respond: Respond) -> None:
        cancelled = services.message("pledge_cancelled.json.j2")
        respond_with(respond, cancelled, replace_original=True)

    @app.view("pledge_modal")
    def on_pledge_modal(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        # A view submission's answer travels in the ack itself, so the checks come first.
        ack(**submit_pledge_modal(services, identity_of(context, body), body))

    @app.view("pledge_confirm_modal")
    def on_pledge_confirmed(
        ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        intent = PledgeIntent.from_value(body["view"].get("private_metadata", ""))
        if intent is None:
            expired = services.view("error_modal.json.j2", problem="This form has expired.")
            ack(response_action="update", view=expired)
            return
        identity = identity_of(context, body)
        done = confirm_pledge(services, identity, intent)
        ack(response_action="update", view=services.view("pledge_done_modal.json.j2", **done))
        publish_home(client, services, identity)
