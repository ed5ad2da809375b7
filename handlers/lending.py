"""The lending subcommands of /lend, their buttons and their modals.

Nothing Slack sends back is trusted: button values and `private_metadata` carry ids (and the
amount the lender chose), and every handler re-reads the project, re-checks that it is open,
and lets the lending operation decide whether this lender may do this.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from handlers.acks import on_action
from handlers.context import CommandRequest, Reply, Services, Subcommand, identity_from
from handlers.home import publish_home
from storage.db.unit_of_work import Refused, transaction
from storage.ledger.money import AmountError, parse_amount
from storage.lending import portfolio
from storage.lending.credit import withdraw
from storage.lending.lenders import (
    Preferences,
    SlackIdentity,
    ensure_lender,
    preferences_of,
    set_autolend,
    set_preferences,
)
from storage.lending.models import Lender, NotifyMode
from storage.lending.pledges import PledgeRequest, amount_refusal, pledge
from storage.projects import catalogue
from storage.projects.catalogue import BrowseFilters, Choices, ProjectCard
from storage.projects.references import find_project, unknown_project
from templates.render import RenderedMessage, render_message, render_view

PER_PAGE = 5
PORTFOLIO_LOANS = 10
FLAGS = {"women": "women", "ending-soon": "ending_soon", "almost-funded": "almost_funded"}
BROWSE_HINT = "Find one with `/lend browse`, then copy its reference."
_INTENT = re.compile(r"^[0-9a-f]{32}$")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# -- small helpers ---------------------------------------------------------------------


def message(template: str, services: Services, **context: Any) -> RenderedMessage:
    return render_message(template, currency=services.rules.currency, **context)


def view(template: str, services: Services, **context: Any) -> dict[str, Any]:
    return render_view(template, currency=services.rules.currency, **context)


def problem(text: str, hint: str | None = None) -> Reply:
    """An answer that says what was wrong and what to do; nothing was changed."""
    return Reply(render_message("error.json.j2", problem=text, hint=hint))


def lender_id(services: Services, identity: SlackIdentity) -> int:
    with transaction(services.db.sessions) as session:
        return ensure_lender(session, identity, now=services.clock()).id


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


def new_intent() -> str:
    return uuid.uuid4().hex


def _respond(respond: Respond, rendered: RenderedMessage, **options: Any) -> None:
    respond(text=rendered.text, blocks=rendered.blocks, **options)


# -- browse ------------------------------------------------------------------------------


def _normal(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@dataclass(frozen=True)
class UnknownFilter:
    word: str


def parse_filters(words: list[str], choices: Choices) -> BrowseFilters | UnknownFilter:
    """Match words to flags, countries and sectors, any case, multi-word names joined or not."""
    found: dict[str, Any] = {}
    countries = {_normal(name): name for name in choices.countries}
    sectors = {_normal(name): name for name in choices.sectors}
    index = 0
    while index < len(words):
        word = words[index].casefold()
        if word in FLAGS:
            found[FLAGS[word]] = True
            index += 1
            continue
        # "Burkina Faso", "burkina-faso" and "BurkinaFaso" all name the same country.
        for length in (3, 2, 1):
            joined = _normal("".join(words[index : index + length]))
            if joined in countries or joined in sectors:
                key = "country" if joined in countries else "sector"
                found[key] = countries.get(joined) or sectors[joined]
                index += length
                break
        else:
            return UnknownFilter(words[index])
    return BrowseFilters(**found)


def browse_reply(services: Services, filters: BrowseFilters, page: int) -> Reply:
    with services.db.reads() as session:
        found = catalogue.browse(session, filters, services.clock(), page=page, per_page=PER_PAGE)
    state = {"f": _filter_state(filters), "p": page + 1}
    return Reply(message("browse.json.j2", services, page=found, next_state=state))


def _filter_state(filters: BrowseFilters) -> dict[str, Any]:
    return {key: value for key, value in vars(filters).items() if value}


def browse(request: CommandRequest) -> Reply:
    services = request.services
    if not request.args:
        # The busiest page: no filters to match against the open countries and sectors.
        return browse_reply(services, BrowseFilters(), page=0)
    with services.db.reads() as session:
        choices = catalogue.filter_choices(session, services.clock())
    parsed = parse_filters(request.args, choices)
    if isinstance(parsed, UnknownFilter):
        return Reply(message("filter_unknown.json.j2", services, word=parsed.word, choices=choices))
    return browse_reply(services, parsed, page=0)


def _next_page(services: Services, value: str) -> Reply:
    data = ids_from(value, "p") or {"p": 0}
    state = found if isinstance(found := data.get("f"), dict) else {}
    defaults = vars(BrowseFilters())
    chosen = {k: v for k, v in state.items() if k in defaults and _fits(defaults[k], v)}
    return browse_reply(services, BrowseFilters(**chosen), page=max(0, min(data["p"], 10_000)))


def _fits(default: object, value: object) -> bool:
    """A forged page button may only set a flag to a bool and a name to a short string."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    return isinstance(value, str) and len(value) <= 100


# -- project -----------------------------------------------------------------------------


def project(request: CommandRequest) -> Reply:
    services = request.services
    if len(request.args) != 1:
        return problem("Which project? Give its reference, like `/lend project K653051`.")
    with services.db.reads() as session:
        try:
            found = find_project(session, request.args[0])
        except Refused as refused:
            return problem(refused.refusal.message, BROWSE_HINT)
        detail = catalogue.project_detail(session, found.id, services.clock())
    if detail is None:
        return problem(unknown_project(request.args[0]).refusal.message, BROWSE_HINT)
    return Reply(message("project.json.j2", services, detail=detail))


# -- pledge: command, Lend button, modal, confirmation -----------------------------------


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
        if data is None or not _INTENT.match(str(data.get("i"))) or data["a"] <= 0:
            return None
        if circle is not None and (isinstance(circle, bool) or not isinstance(circle, int)):
            return None
        return cls(data["p"], data["a"], circle, str(data["i"]))


@dataclass(frozen=True)
class Proposal:
    card: ProjectCard
    plan: portfolio.PledgePlan
    intent: PledgeIntent


def propose(services: Services, identity: SlackIdentity, intent: PledgeIntent) -> Proposal | str:
    """What the pledge would do, for the confirmation; or why it cannot be made."""
    lender = lender_id(services, identity)
    with services.db.reads() as session:
        card = catalogue.open_card(session, intent.project_id, services.clock())
        available = portfolio.balances(session, lender).available
    if card is None:
        return "That project is no longer raising money. Find another with `/lend browse`."
    refusal = amount_refusal(card.reference, intent.amount, card.still_needed, services.rules)
    if refusal is not None:
        return refusal.message
    plan = portfolio.plan_pledge(available, intent.amount, card.still_needed)
    return Proposal(card, plan, intent)


def _amount(services: Services, text: str) -> int | str:
    try:
        return parse_amount(text, currency=services.rules.currency)
    except AmountError as error:
        return str(error)


def pledge_command(request: CommandRequest) -> Reply:
    services = request.services
    if len(request.args) != 2:
        return problem("Say which project and how much, like `/lend pledge K653051 25`.")
    amount = _amount(services, request.args[1])
    if isinstance(amount, str):
        return problem(amount)
    with services.db.reads() as session:
        try:
            found = find_project(session, request.args[0])
        except Refused as refused:
            return problem(refused.refusal.message, BROWSE_HINT)
    intent = PledgeIntent(found.id, amount, None, new_intent())
    proposal = propose(services, request.identity, intent)
    if isinstance(proposal, str):
        return problem(proposal)
    return Reply(message("pledge_confirm.json.j2", services, proposal=proposal))


def confirm_pledge(
    services: Services, identity: SlackIdentity, intent: PledgeIntent
) -> dict[str, Any]:
    """Lend, once per intent: a second click replays the first result and moves nothing.

    Returns what `pledge_done` templates (message and modal) show.
    """
    request = PledgeRequest(
        lender_id=lender_id(services, identity),
        project_id=intent.project_id,
        amount=intent.amount,
        circle_id=intent.circle_id,
    )
    key = f"pledge:{request.lender_id}:{intent.intent}"
    outcome = pledge(services.db.sessions, request, services.rules, key=key, now=services.clock())
    return {"result": outcome.result, "refusal": outcome.refusal, "replayed": outcome.replayed}


def open_pledge_modal(
    client: WebClient, services: Services, identity: SlackIdentity, trigger_id: str, value: str
) -> None:
    """The Lend button: a modal with the amount, how it is paid, and the circle it counts for."""
    data = ids_from(value, "project")
    lender = lender_id(services, identity)
    with services.db.reads() as session:
        card = data and catalogue.open_card(session, data["project"], services.clock())
        available = portfolio.balances(session, lender).available
        circles = portfolio.lender_circles(session, lender)
    if not card:
        modal = view(
            "error_modal.json.j2", services, problem="That project is no longer raising money."
        )
    else:
        circle = data.get("circle") if data else None
        modal = view(
            "pledge_modal.json.j2",
            services,
            card=card,
            available=available,
            circles=circles,
            chosen_circle=circle if any(c.id == circle for c in circles) else None,
            minimum=services.rules.min_pledge,
            suggested=min(services.rules.min_pledge, card.still_needed),
        )
    client.views_open(trigger_id=trigger_id, view=modal)


def _modal_input(body: dict[str, Any], block: str) -> dict[str, Any]:
    values = body.get("view", {}).get("state", {}).get("values", {})
    return next(iter((values.get(block) or {}).values()), {}) or {}


def submit_pledge_modal(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    """The modal's answer: field errors, or the confirmation pushed in its place."""
    data = ids_from(body.get("view", {}).get("private_metadata", ""), "project")
    if data is None:
        return {"response_action": "errors", "errors": {"amount": "This form has expired."}}
    amount = _amount(services, str(_modal_input(body, "amount").get("value") or ""))
    if isinstance(amount, str):
        return {"response_action": "errors", "errors": {"amount": amount}}
    circle_option = _modal_input(body, "circle").get("selected_option") or {}
    circle = str(circle_option.get("value", ""))
    intent = PledgeIntent(
        data["project"], amount, int(circle) if circle.isdigit() else None, new_intent()
    )
    proposal = propose(services, identity_from(body), intent)
    if isinstance(proposal, str):
        return {"response_action": "errors", "errors": {"amount": proposal}}
    confirm = view("pledge_confirm_modal.json.j2", services, proposal=proposal)
    return {"response_action": "update", "view": confirm}


# -- portfolio, credit, withdraw -------------------------------------------------------


def portfolio_reply(request: CommandRequest) -> Reply:
    services = request.services
    lender = lender_id(services, request.identity)
    with services.db.reads() as session:
        held = portfolio.lender_portfolio(session, lender, limit=PORTFOLIO_LOANS)
    return Reply(message("portfolio.json.j2", services, portfolio=held))


def credit(request: CommandRequest) -> Reply:
    return Reply(credit_card(request.services, request.identity))


def credit_card(services: Services, identity: SlackIdentity) -> RenderedMessage:
    """Available credit with Re-lend and Withdraw; the Withdraw button carries a new intent."""
    lender = lender_id(services, identity)
    with services.db.reads() as session:
        held = portfolio.balances(session, lender)
    return message("credit.json.j2", services, balances=held, intent=new_intent())


def withdraw_credit(
    services: Services, identity: SlackIdentity, amount: int | None, intent: str
) -> RenderedMessage:
    lender = lender_id(services, identity)
    outcome = withdraw(
        services.db.sessions,
        lender,
        amount,
        key=f"withdraw:{lender}:{intent}",
        currency=services.rules.currency,
        now=services.clock(),
    )
    if outcome.refusal:
        return render_message("error.json.j2", problem=outcome.refusal.message, hint=None)
    return message("withdraw_done.json.j2", services, result=outcome.value())


def withdraw_command(request: CommandRequest) -> Reply:
    if len(request.args) != 1:
        return problem("Say how much, like `/lend withdraw 25` or `/lend withdraw all`.")
    word = request.args[0]
    amount = None if word.casefold() == "all" else _amount(request.services, word)
    if isinstance(amount, str):
        return problem(amount, "Or withdraw everything with `/lend withdraw all`.")
    return Reply(withdraw_credit(request.services, request.identity, amount, new_intent()))


# -- autolend ----------------------------------------------------------------------------


def autolend(request: CommandRequest) -> Reply:
    services = request.services
    switch = request.args[0].casefold() if request.args else ""
    if switch not in ("on", "off"):
        return problem("Say `/lend autolend on [country] [sector]` or `/lend autolend off`.")
    with services.db.reads() as session:
        choices = catalogue.filter_choices(session, services.clock())
    parsed = parse_filters(request.args[1:], choices)
    if isinstance(parsed, UnknownFilter) or parsed.women or parsed.ending_soon:
        word = parsed.word if isinstance(parsed, UnknownFilter) else "that filter"
        return Reply(message("filter_unknown.json.j2", services, word=word, choices=choices))
    with transaction(services.db.sessions) as session:
        lender = ensure_lender(session, request.identity, now=services.clock())
        on = switch == "on"
        set_autolend(session, lender.id, on=on, country=parsed.country, sector=parsed.sector)
        session.refresh(lender)
        state = _autolend_state(lender)
    return Reply(message("autolend.json.j2", services, **state))


def _autolend_state(lender: Lender) -> dict[str, Any]:
    return {
        "on": lender.autolend,
        "country": lender.autolend_country,
        "sector": lender.autolend_sector,
    }


# -- settings ----------------------------------------------------------------------------


def open_settings(
    client: WebClient, services: Services, identity: SlackIdentity, trigger_id: str
) -> None:
    with transaction(services.db.sessions) as session:
        current = preferences_of(ensure_lender(session, identity, now=services.clock()))
    modal = view(
        "settings_modal.json.j2",
        services,
        prefs=current,
        modes=list(NotifyMode),
        days=list(enumerate(DAYS)),
    )
    client.views_open(trigger_id=trigger_id, view=modal)


def settings(request: CommandRequest) -> Reply:
    open_settings(request.client, request.services, request.identity, request.trigger_id)
    return Reply(message("settings_opened.json.j2", request.services))


def submit_settings(services: Services, body: dict[str, Any]) -> dict[str, Any] | None:
    """Save the settings modal; field errors when they do not make sense."""
    identity = identity_from(body)
    mode = (_modal_input(body, "notify").get("selected_option") or {}).get("value")
    start = _minute(_modal_input(body, "start"))
    end = _minute(_modal_input(body, "end"))
    days = sum(
        1 << int(option["value"])
        for option in _modal_input(body, "days").get("selected_options") or []
        if str(option.get("value")) in {str(n) for n in range(7)}
    )
    if mode not in {m.value for m in NotifyMode} or start is None or end is None:
        return {"response_action": "errors", "errors": {"notify": "Choose from the lists."}}
    try:
        with transaction(services.db.sessions) as session:
            lender = ensure_lender(session, identity, now=services.clock())
            wanted = Preferences(NotifyMode(mode), start, end, days, lender.tz)
            set_preferences(session, lender.id, wanted)
    except ValueError as error:
        block = "end" if days else "days"
        return {"response_action": "errors", "errors": {block: str(error)}}
    return None


def _minute(field: dict[str, Any]) -> int | None:
    value = str((field.get("selected_option") or {}).get("value", ""))
    return int(value) if value.isdigit() and int(value) <= 24 * 60 else None


SUBCOMMANDS: dict[str, Subcommand] = {
    "browse": browse,
    "project": project,
    "pledge": pledge_command,
    "portfolio": portfolio_reply,
    "credit": credit,
    "withdraw": withdraw_command,
    "autolend": autolend,
    "settings": settings,
}


# -- listeners ---------------------------------------------------------------------------


def _value(body: dict[str, Any]) -> str:
    return str((body.get("actions") or [{}])[0].get("value", ""))


def register(app: App, services: Services) -> None:
    def refresh_home(client: WebClient, body: dict[str, Any]) -> None:
        publish_home(client, services, identity_from(body))

    @on_action(app, "lend")
    def on_lend(body: dict[str, Any], client: WebClient) -> None:
        open_pledge_modal(client, services, identity_from(body), body["trigger_id"], _value(body))

    @on_action(app, "browse_next")
    def on_next(body: dict[str, Any], respond: Respond) -> None:
        _respond(respond, _next_page(services, _value(body)).message, replace_original=True)

    @on_action(app, "pledge_confirm")
    def on_confirm(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        intent = PledgeIntent.from_value(_value(body))
        if intent is None:
            _respond(respond, problem("That button has expired; pledge again.").message)
            return
        done = confirm_pledge(services, identity_from(body), intent)
        _respond(respond, message("pledge_done.json.j2", services, **done), replace_original=True)
        refresh_home(client, body)

    @on_action(app, "pledge_cancel")
    def on_cancel(body: dict[str, Any], respond: Respond) -> None:
        _respond(respond, message("pledge_cancelled.json.j2", services), replace_original=True)

    @on_action(app, "withdraw_all")
    def on_withdraw(body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        intent = _value(body)
        if not _INTENT.match(intent):
            _respond(respond, problem("That button has expired; try `/lend credit`.").message)
            return
        done = withdraw_credit(services, identity_from(body), None, intent)
        _respond(respond, done, replace_original=True)
        refresh_home(client, body)

    @on_action(app, "credit_open")
    def on_credit_open(body: dict[str, Any], respond: Respond) -> None:
        # The Withdraw button of a notification: show the credit card, whose button withdraws.
        _respond(respond, credit_card(services, identity_from(body)))

    @on_action(app, "relend")
    def on_relend(respond: Respond) -> None:
        _respond(respond, browse_reply(services, BrowseFilters(), page=0).message)

    @on_action(app, "open_settings")
    def on_open_settings(body: dict[str, Any], client: WebClient) -> None:
        open_settings(client, services, identity_from(body), body["trigger_id"])

    @app.view("pledge_modal")
    def on_pledge_modal(ack: Ack, body: dict[str, Any]) -> None:
        # A view submission's answer travels in the ack itself, so the checks come first.
        ack(**submit_pledge_modal(services, body))

    @app.view("pledge_confirm_modal")
    def on_pledge_confirmed(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        intent = PledgeIntent.from_value(body["view"].get("private_metadata", ""))
        if intent is None:
            expired = view("error_modal.json.j2", services, problem="This form has expired.")
            ack(response_action="update", view=expired)
            return
        done = confirm_pledge(services, identity_from(body), intent)
        ack(response_action="update", view=view("pledge_done_modal.json.j2", services, **done))
        refresh_home(client, body)

    @app.view("settings_modal")
    def on_settings(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        errors = submit_settings(services, body)
        if errors:
            ack(**errors)
            return
        ack()
        refresh_home(client, body)
