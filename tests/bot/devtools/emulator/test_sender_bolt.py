"""The emulator as Slack towards a real Bolt app: signed requests, acks read as Slack reads them.

A tiny bare ``slack_bolt.App`` is served by waitress through Bolt's own WSGI adapter and
talks back to the emulator through a WebClient aimed at it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.devtools.emulator import AppSender, BackgroundServer, Emulator, Message, Tamper, User

LEND_MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "lend",
    "title": {"type": "plain_text", "text": "Lend"},
    "submit": {"type": "plain_text", "text": "Lend"},
    "private_metadata": "project-7",
    "blocks": [
        {
            "type": "input",
            "block_id": "amount",
            "label": {"type": "plain_text", "text": "Amount (EUR)"},
            "element": {"type": "number_input", "is_decimal_allowed": False, "action_id": "eur"},
        },
        {
            "type": "input",
            "block_id": "country",
            "label": {"type": "plain_text", "text": "Country"},
            "element": {
                "type": "static_select",
                "action_id": "pick",
                "options": [
                    {"text": {"type": "plain_text", "text": name}, "value": name.lower()}
                    for name in ("Peru", "Senegal", "Cambodia")
                ],
            },
        },
        {
            "type": "input",
            "block_id": "notify",
            "optional": True,
            "label": {"type": "plain_text", "text": "Notify me"},
            "element": {
                "type": "checkboxes",
                "action_id": "how",
                "options": [
                    {"text": {"type": "plain_text", "text": "DM"}, "value": "dm"},
                    {"text": {"type": "plain_text", "text": "Digest"}, "value": "digest"},
                ],
            },
        },
    ],
}

PLEDGE_BUTTON = {
    "type": "actions",
    "elements": [
        {
            "type": "button",
            "action_id": "pledge",
            "text": {"type": "plain_text", "text": "Lend 20 EUR"},
            "value": "project-7",
        }
    ],
}


def build_app(slack: Emulator, seen: dict[str, Any]) -> App:
    """A bare Bolt app: just enough listeners to exercise every kind of request."""
    client = WebClient(token=slack.bot_token, base_url=slack.base_url)
    app = App(signing_secret=slack.signing_secret, client=client, process_before_response=True)

    @app.command("/lend")
    def lend(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        seen["command"] = command
        if command["text"] == "open":
            ack()
            client.views_open(trigger_id=command["trigger_id"], view=LEND_MODAL)
        else:
            ack(text="Usage: /lend open")

    @app.action("pledge")
    def pledge(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        seen["action"] = body
        respond(text=f"Pledged to {body['actions'][0]['value']}", replace_original=True)

    @app.view("lend")
    def submit(ack: Ack, view: dict[str, Any]) -> None:
        seen["submission"] = view
        amount = int(view["state"]["values"]["amount"]["eur"]["value"])
        if amount < 20:
            ack(response_action="errors", errors={"amount": "The minimum is 20 EUR"})
        elif amount > 1000:
            ack()
        else:
            thanks = {**LEND_MODAL, "title": {"type": "plain_text", "text": "Thank you"}}
            ack(response_action="update", view={**thanks, "blocks": [], "submit": None})

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient, request: BoltRequest) -> None:
        retry_num = request.headers.get("x-slack-retry-num", [None])[0]
        seen.setdefault("retries", []).append(retry_num)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Your loans"}}]
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": blocks})

    return app


@pytest.fixture
def seen() -> dict[str, Any]:
    return {}


@pytest.fixture
def app_sender(slack: Emulator, seen: dict[str, Any]) -> Iterator[AppSender]:
    server = BackgroundServer(SlackRequestHandler(build_app(slack, seen)))
    server.start()
    try:
        yield slack.connect(f"{server.url}/slack/events")
    finally:
        server.stop()


def test_slash_command_is_signed_and_shaped_like_slack(
    app_sender: AppSender, slack: Emulator, alice: User, seen: dict[str, Any]
) -> None:
    delivery = app_sender.slash_command(alice.id, "/lend", "help")
    assert delivery.status == 200
    request = delivery.request
    assert request.content_type == "application/x-www-form-urlencoded"
    fields = {k: v[0] for k, v in parse_qs(request.body).items()}
    for key in ("team_id", "channel_id", "channel_name", "user_id", "user_name", "api_app_id"):
        assert fields[key], key
    assert fields["response_url"].startswith(slack.url)
    assert seen["command"]["command"] == "/lend"
    # The ack's text is shown to the user alone, as Slack shows it.
    (message,) = delivery.recorded
    assert isinstance(message, Message)
    assert message.text == "Usage: /lend open" and message.ephemeral_to == alice.id
    assert slack.ephemerals(alice.id) == [message]


def test_signature_verifies_with_slack_sdk(app_sender: AppSender, alice: User) -> None:
    delivery = app_sender.slash_command(alice.id, "/lend", "help")
    verifier = SignatureVerifier(app_sender.state.config.signing_secret)
    headers = delivery.sent_headers
    assert verifier.is_valid(
        body=delivery.request.body,
        timestamp=headers["X-Slack-Request-Timestamp"],
        signature=headers["X-Slack-Signature"],
    )


def test_forged_and_stale_requests_are_refused(app_sender: AppSender, alice: User) -> None:
    forged = app_sender.slash_command(
        alice.id, "/lend", "help", tamper=Tamper(forge_signature=True)
    )
    stale = app_sender.slash_command(alice.id, "/lend", "help", tamper=Tamper(stale_by_seconds=301))
    assert (forged.status, stale.status) == (401, 401)
    assert forged.recorded == [] and stale.recorded == []


def test_trigger_from_command_opens_modal_then_submission_updates_stack(
    app_sender: AppSender, slack: Emulator, alice: User, seen: dict[str, Any]
) -> None:
    app_sender.slash_command(alice.id, "/lend", "open")
    (modal,) = slack.modal_stack(alice.id)
    assert modal.callback_id == "lend" and modal.private_metadata == "project-7"

    too_little = app_sender.submit_modal(alice.id, {"eur": 10, "country": "peru"})
    assert too_little.status == 200
    assert slack.modal_stack(alice.id)[0].errors == {"amount": "The minimum is 20 EUR"}
    submitted = seen["submission"]["state"]["values"]
    assert submitted["amount"]["eur"] == {"type": "number_input", "value": "10"}
    assert submitted["country"]["pick"]["selected_option"]["value"] == "peru"
    assert submitted["notify"]["how"] == {"type": "checkboxes", "selected_options": []}

    app_sender.submit_modal(alice.id, {"eur": 25, "pick": "senegal", "notify": ["dm"]})
    (thanks,) = slack.modal_stack(alice.id)
    assert thanks.title == "Thank you" and thanks.id == modal.id


def test_submission_with_empty_ack_closes_the_modal(
    app_sender: AppSender, slack: Emulator, alice: User
) -> None:
    app_sender.slash_command(alice.id, "/lend", "open")
    app_sender.submit_modal(alice.id, {"eur": 5000, "country": "cambodia"})
    assert slack.modal_stack(alice.id) == []


def test_required_input_must_be_filled(app_sender: AppSender, slack: Emulator, alice: User) -> None:
    app_sender.slash_command(alice.id, "/lend", "open")
    with pytest.raises(ValueError, match="required"):
        app_sender.submit_modal(alice.id, {"eur": 30})


def test_button_click_and_respond_replaces_the_message(
    app_sender: AppSender, slack: Emulator, alice: User, seen: dict[str, Any]
) -> None:
    channel = slack.add_channel("circle", [alice.id, slack.config.bot_user_id])
    slack.client().chat_postMessage(channel=channel.id, text="Lend?", blocks=[PLEDGE_BUTTON])
    delivery = app_sender.click(alice.id, action_id="pledge", value="project-7")
    assert delivery.status == 200
    payload = seen["action"]
    assert payload["container"]["type"] == "message"
    assert payload["message"]["text"] == "Lend?"
    assert payload["actions"][0]["value"] == "project-7"
    (message,) = slack.messages(channel.id)
    assert message.text == "Pledged to project-7" and message.edited_ts


def test_home_opened_event_and_retry_headers(
    app_sender: AppSender, slack: Emulator, alice: User, seen: dict[str, Any]
) -> None:
    first = app_sender.open_home(alice.id)
    assert first.status == 200
    envelope = json.loads(first.request.body)
    assert envelope["type"] == "event_callback" and envelope["event_id"].startswith("Ev")
    assert envelope["authorizations"][0]["user_id"] == slack.config.bot_user_id
    home = slack.home_view(alice.id)
    assert home is not None and home.blocks[0]["text"]["text"] == "Your loans"

    retry = app_sender.resend(first, retry_num=1, reason="http_timeout")
    assert retry.status == 200
    assert retry.sent_headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert json.loads(retry.request.body)["event_id"] == envelope["event_id"]
    assert seen["retries"] == [None, "1"]


def test_stale_event_is_refused(app_sender: AppSender, alice: User) -> None:
    assert app_sender.open_home(alice.id, tamper=Tamper(stale_by_seconds=600)).status == 401


def test_close_modal_sends_view_closed_only_when_asked(
    slack: Emulator, alice: User, seen: dict[str, Any]
) -> None:
    app = build_app(slack, seen)

    @app.view_closed("lend")
    def closed(ack: Ack, view: dict[str, Any]) -> None:
        ack()
        seen["closed"] = view["id"]

    server = BackgroundServer(SlackRequestHandler(app))
    server.start()
    try:
        sender = slack.connect(f"{server.url}/slack/events")
        trigger = slack.state.issue_trigger(alice.id)
        view = slack.client().views_open(
            trigger_id=trigger, view={**LEND_MODAL, "notify_on_close": True}
        )["view"]
        delivery = sender.close_modal(alice.id)
    finally:
        server.stop()
    assert delivery is not None and delivery.status == 200
    assert seen["closed"] == view["id"] and slack.modal_stack(alice.id) == []
