"""`/lend settings`: how often a lender hears from us, and their working hours."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from handlers.acks import on_action
from handlers.context import CommandRequest, Reply, Services, Subcommands, identity_of
from handlers.replies import field_errors, modal_input, publish_home
from storage.lending.lenders import SlackIdentity, choose_preferences, preferences_for
from storage.lending.models import NotifyMode

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Where each refusal of the modal is shown.
ERROR_FIELDS = {"working_hours": "end", "working_days": "days"}


def open_settings(
    client: WebClient, services: Services, identity: SlackIdentity, trigger_id: str
) -> None:
    with services.db.reads() as session:
        current = preferences_for(session, identity)
    modal = services.view(
        "settings_modal.json.j2",
        prefs=current,
        modes=list(NotifyMode),
        days=list(enumerate(DAYS)),
    )
    client.views_open(trigger_id=trigger_id, view=modal)


def settings(request: CommandRequest) -> Reply:
    open_settings(request.client, request.services, request.identity, request.trigger_id)
    return Reply(request.services.message("settings_opened.json.j2"))


def submit_settings(
    services: Services, identity: SlackIdentity, body: dict[str, Any]
) -> dict[str, Any]:
    """Save the settings modal: what was saved, in the modal's place; or field errors when
    they do not make sense."""
    mode = (modal_input(body, "notify").get("selected_option") or {}).get("value")
    start = _minute(modal_input(body, "start"))
    end = _minute(modal_input(body, "end"))
    days = sum(
        1 << int(option["value"])
        for option in modal_input(body, "days").get("selected_options") or []
        if str(option.get("value")) in {str(n) for n in range(7)}
    )
    if mode not in {m.value for m in NotifyMode} or start is None or end is None:
        return field_errors(notify="Choose from the lists.")
    outcome = choose_preferences(
        services.db.sessions,
        identity,
        notify_mode=NotifyMode(mode),
        work_start_minute=start,
        work_end_minute=end,
        work_days=days,
        now=services.clock(),
    )
    if outcome.refusal is not None:
        return field_errors(**{ERROR_FIELDS[outcome.refusal.code]: outcome.refusal.message})
    saved = outcome.value()
    names = [day for number, day in enumerate(DAYS) if saved.work_days >> number & 1]
    view = services.view("settings_saved_modal.json.j2", prefs=saved, days=names)
    return {"response_action": "update", "view": view}


def _minute(field: dict[str, Any]) -> int | None:
    value = str((field.get("selected_option") or {}).get("value", ""))
    return int(value) if value.isdigit() and int(value) <= 24 * 60 else None


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    subcommands["settings"] = settings

    @on_action(app, "open_settings")
    def on_open_settings(body: dict[str, Any], context: BoltContext, client: WebClient) -> None:
        open_settings(client, services, identity_of(context, body), body["trigger_id"])

    @app.view("settings_modal")
    def on_settings(
        ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        identity = identity_of(context, body)
        answer = submit_settings(services, identity, body)
        ack(**answer)
        if answer["response_action"] == "update":
            publish_home(client, services, identity)
