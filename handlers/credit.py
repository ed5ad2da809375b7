"""A lender's money: `/lend portfolio`, `/lend credit`, withdrawing it, and auto-relend."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from handlers.acks import on_action
from handlers.context import CommandRequest, Reply, Services, Subcommands, identity_of
from handlers.replies import (
    INTENT,
    amount_words,
    button_value,
    ids_from,
    new_intent,
    problem,
    publish_home,
    respond_with,
    unknown_filter,
)
from storage.db.unit_of_work import Refused
from storage.ledger.money import AmountError, parse_amount
from storage.lending import portfolio
from storage.lending.credit import plan_withdrawal, withdraw
from storage.lending.lenders import SlackIdentity, choose_autolend
from storage.projects import catalogue
from storage.projects.catalogue import UnknownFilter, parse_filters
from templates.render import RenderedMessage, render_message

PORTFOLIO_LOANS = 10
AUTOLEND_USAGE = "Say `/lend autolend on [country] [sector]` or `/lend autolend off`."
AUTOLEND_CHOICE = (
    "Auto-lending follows one country and one sector: name at most one of each, "
    "without `women`, `ending-soon` or `almost-funded`."
)


def portfolio_reply(request: CommandRequest) -> Reply:
    services = request.services
    with services.db.reads() as session:
        held = portfolio.lender_portfolio(session, request.identity, limit=PORTFOLIO_LOANS)
    return Reply(services.message("portfolio.json.j2", portfolio=held))


def credit(request: CommandRequest) -> Reply:
    return Reply(credit_card(request.services, request.identity))


def credit_card(services: Services, identity: SlackIdentity) -> RenderedMessage:
    """Available credit with Re-lend and Withdraw; the Withdraw button carries a new intent."""
    with services.db.reads() as session:
        held = portfolio.balances(session, identity)
    return services.message("credit.json.j2", balances=held, intent=new_intent())


def withdraw_credit(
    services: Services, identity: SlackIdentity, amount: int | None, intent: str
) -> RenderedMessage:
    outcome = withdraw(
        services.db.sessions,
        identity,
        amount,
        key=f"withdraw:{identity.org_key}:{identity.user_id}:{intent}",
        currency=services.currency,
        now=services.clock(),
    )
    if outcome.refusal:
        return render_message("error.json.j2", problem=outcome.refusal.message, hint=None)
    return services.message("withdraw_done.json.j2", result=outcome.value())


def withdraw_command(request: CommandRequest) -> Reply:
    """Show what the withdrawal would take out; the Withdraw button it carries does it."""
    services = request.services
    if not request.args:
        return problem("Say how much, like `/lend withdraw 20` or `/lend withdraw all`.")
    word = amount_words(request.args)
    if word is None:
        return problem("Give one amount, like `/lend withdraw 20` or `20 EUR`.")
    try:
        amount = (
            None if word.casefold() == "all" else parse_amount(word, currency=services.currency)
        )
    except AmountError as error:
        return problem(str(error), "Or withdraw everything with `/lend withdraw all`.")
    with services.db.reads() as session:
        try:
            plan = plan_withdrawal(session, request.identity, amount, currency=services.currency)
        except Refused as refused:
            return problem(refused.refusal.message)
    return Reply(services.message("withdraw_confirm.json.j2", plan=plan, intent=new_intent()))


def _confirmed_amount(value: str) -> tuple[int, str] | None:
    """The amount and intent a Withdraw button carries, if it is one the app made."""
    data = ids_from(value, "a")
    intent = str(data.get("i")) if data else ""
    if data is None or data["a"] <= 0 or not INTENT.match(intent):
        return None
    return data["a"], intent


def autolend(request: CommandRequest) -> Reply:
    services = request.services
    switch = request.args[0].casefold() if request.args else ""
    if switch not in ("on", "off"):
        return problem(AUTOLEND_USAGE)
    with services.db.reads() as session:
        choices = catalogue.filter_choices(session, services.clock())
    parsed = parse_filters(request.args[1:], choices)
    if isinstance(parsed, UnknownFilter):
        return unknown_filter(services, parsed, choices)
    if parsed.flags or len(parsed.countries) > 1 or len(parsed.sectors) > 1:
        return problem(AUTOLEND_CHOICE, AUTOLEND_USAGE)
    outcome = choose_autolend(
        services.db.sessions,
        request.identity,
        on=switch == "on",
        country=next(iter(parsed.countries), None),
        sector=next(iter(parsed.sectors), None),
        now=services.clock(),
    )
    choice = outcome.value()
    return Reply(
        services.message(
            "autolend.json.j2", on=choice.on, country=choice.country, sector=choice.sector
        )
    )


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    subcommands.update(
        {
            "portfolio": portfolio_reply,
            "credit": credit,
            "withdraw": withdraw_command,
            "autolend": autolend,
        }
    )

    def on_withdraw(
        body: dict[str, Any], context: BoltContext, respond: Respond, client: WebClient
    ) -> None:
        """Withdraw exactly what the button's confirmation named, never what is there by now."""
        confirmed = _confirmed_amount(button_value(body))
        if confirmed is None:
            respond_with(respond, problem("That button has expired; try `/lend credit`.").message)
            return
        identity = identity_of(context, body)
        done = withdraw_credit(services, identity, *confirmed)
        respond_with(respond, done, replace_original=True)
        publish_home(client, services, identity)

    # The credit card's button (its confirm dialog names the amount) and /lend withdraw's.
    for action_id in ("withdraw_all", "withdraw_confirm"):
        on_action(app, action_id)(on_withdraw)

    @on_action(app, "withdraw_cancel")
    def on_withdraw_cancelled(respond: Respond) -> None:
        cancelled = services.message("withdraw_cancelled.json.j2")
        respond_with(respond, cancelled, replace_original=True)

    @on_action(app, "credit_open")
    def on_credit_open(body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
        # The Withdraw button of a notification: show the credit card, whose button withdraws.
        respond_with(respond, credit_card(services, identity_of(context, body)))
