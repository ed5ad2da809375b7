"""The other direction: what Slack sends the app, signed, and what Slack makes of the answer.

Slash commands go form-encoded; interactions go as ``payload=<json>``; events as JSON.
Each is signed with the signing secret exactly as Slack signs (``v0:<ts>:<body>``,
HMAC-SHA256). The app's synchronous answer is read the way Slack reads it: a slash
command's ack text becomes an ephemeral message, a view_submission's ``response_action``
edits the user's modal stack.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

from bot.devtools.emulator import blockkit
from bot.devtools.emulator.state import (
    JsonDict,
    Message,
    SlackError,
    View,
    WorkspaceState,
    fill_block_ids,
)
from bot.devtools.emulator.web_api import MODAL_STACK_MAX, message_content, user_object

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass(frozen=True)
class Tamper:
    """Ways to send what Slack never would, to prove the app refuses it."""

    # Sign with a timestamp this many seconds in the past (Bolt refuses beyond 5 minutes).
    stale_by_seconds: float = 0.0
    # Sign with the wrong secret.
    forge_signature: bool = False
    # Headers Slack never sends (Bolt's internal ones, say), as (name, value) pairs.
    headers: tuple[tuple[str, str], ...] = ()
    # Name another workspace as where the request came from (the signature stays valid: one
    # app's signing secret signs for every workspace it is installed in).
    team_id: str | None = None


@dataclass
class SentRequest:
    """What went to the app, kept so the same request can be resent as a Slack retry."""

    kind: str
    body: str
    content_type: str
    # The decoded form fields or JSON payload, for assertions.
    payload: JsonDict
    user_id: str | None = None


@dataclass
class Delivery:
    """The app's answer to one request and what the emulator recorded because of it."""

    request: SentRequest
    status: int
    body: str
    headers: dict[str, str]
    # The headers it was sent with (signature, timestamp, retry headers).
    sent_headers: dict[str, str] = field(default_factory=dict)
    recorded: list[Message | View] = field(default_factory=list)

    @property
    def json(self) -> JsonDict | None:
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


class AppSender:
    """Sends Slack's requests to the app at ``app_url`` (e.g. http://127.0.0.1:3000/slack/events)."""

    def __init__(
        self, state: WorkspaceState, app_url: str, response_url_base: str, timeout: float = 10.0
    ) -> None:
        self.state = state
        self.app_url = app_url
        self.response_url_base = response_url_base
        # Slack gives up after 3 s; a generous default keeps slow test machines honest.
        self.timeout = timeout

    # -- slash commands ----------------------------------------------------------------

    def slash_command(
        self,
        user_id: str,
        command: str,
        text: str = "",
        channel_id: str | None = None,
        tamper: Tamper | None = None,
    ) -> Delivery:
        user = self.state.user(user_id)
        channel = (
            self.state.resolve_channel(channel_id) if channel_id else self.state.open_dm(user_id)[0]
        )
        cfg = self.state.config
        fields = {
            "token": cfg.verification_token,
            "team_id": cfg.team_id,
            "team_domain": cfg.team_domain,
            "enterprise_id": cfg.enterprise_id or "",
            "channel_id": channel.id,
            "channel_name": "directmessage" if channel.is_im else channel.name,
            "user_id": user.id,
            "user_name": user.name,
            "command": command,
            "text": text,
            "api_app_id": cfg.app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(channel.id, user.id),
            "trigger_id": self.state.issue_trigger(user.id),
        }
        request = SentRequest("slash_command", urlencode(fields), FORM, fields, user.id)
        delivery = self._send(request, tamper)
        delivery.recorded = self._record_command_ack(delivery, channel.id, user.id)
        return delivery

    def _record_command_ack(self, delivery: Delivery, channel_id: str, user_id: str) -> list[Any]:
        if delivery.status != 200 or not delivery.body.strip():
            return []
        answer = delivery.json or {"text": delivery.body}
        try:
            text, blocks = message_content(answer)
        except SlackError:
            # Slack shows the user an error instead of a malformed ack; nothing is posted.
            return []
        in_channel = answer.get("response_type") == "in_channel"
        message = Message(
            channel=channel_id,
            ts=self.state.next_ts(),
            text=text,
            blocks=blocks,
            user=self.state.config.bot_user_id,
            ephemeral_to=None if in_channel else user_id,
            source="ack",
        )
        return [self.state.add_message(message)]

    # -- block actions -----------------------------------------------------------------

    def click(
        self,
        user_id: str,
        action_id: str | None = None,
        value: str | None = None,
        *,
        within: Message | View | None = None,
        tamper: Tamper | None = None,
    ) -> Delivery:
        """Click the newest matching element the user can see (or the one ``within``).

        For a button ``value`` matches its value; for a select it picks the option.
        """
        for container in [within] if within else self._visible_to(user_id):
            found = _find_element(container.blocks, action_id, value)
            if found:
                block_id, element = found
                action = _action(element, block_id, value, self.state.next_ts())
                return self._send_action(user_id, container, action, tamper)
        raise LookupError(f"no element action_id={action_id!r} value={value!r} for {user_id}")

    def _visible_to(self, user_id: str) -> list[Message | View]:
        """What the user sees, newest first: the top modal, Home, then messages."""
        visible: list[Message | View] = list(self.state.modal_stack(user_id)[-1:])
        home = self.state.home_view(user_id)
        if home:
            visible.append(home)
        messages = [
            m
            for m in self.state.all_messages()
            if m.ephemeral_to == user_id
            or (not m.ephemeral_to and user_id in self._members(m.channel))
        ]
        return visible + list(reversed(messages))

    def _members(self, channel_id: str) -> list[str]:
        return self.state.channels[channel_id].members

    def _send_action(
        self, user_id: str, container: Message | View, action: JsonDict, tamper: Tamper | None
    ) -> Delivery:
        payload = self._interaction_base("block_actions", user_id)
        payload["actions"] = [action]
        if isinstance(container, View):
            payload["container"] = {"type": "view", "view_id": container.id}
            payload["view"] = container.to_slack(self.state.config)
        else:
            payload.update(self._message_context(container, user_id))
        return self._send(_payload_request("block_actions", payload, user_id), tamper)

    def _message_context(self, message: Message, user_id: str) -> JsonDict:
        channel = self.state.channels[message.channel]
        context: JsonDict = {
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": channel.id,
                "is_ephemeral": bool(message.ephemeral_to),
            },
            "channel": {"id": channel.id, "name": channel.name},
            "state": {"values": {}},
            "response_url": self._response_url(channel.id, user_id, message),
        }
        # Slack leaves the message body out of payloads from ephemeral messages.
        if not message.ephemeral_to:
            context["message"] = message.to_slack(self.state.config)
        return context

    # -- modals ------------------------------------------------------------------------

    def submit_modal(
        self, user_id: str, values: dict[str, Any] | None = None, tamper: Tamper | None = None
    ) -> Delivery:
        """Fill the top modal's inputs (keyed by action_id or block_id) and press submit."""
        stack = self.state.modal_stack(user_id)
        if not stack:
            raise LookupError(f"{user_id} has no modal open")
        view = stack[-1]
        view.state_values = state_values(view.blocks, values or {})
        payload = self._interaction_base("view_submission", user_id)
        payload["view"] = view.to_slack(self.state.config)
        payload["response_urls"] = []
        delivery = self._send(_payload_request("view_submission", payload, user_id), tamper)
        delivery.recorded = self._apply_response_action(delivery, user_id)
        return delivery

    def close_modal(self, user_id: str, tamper: Tamper | None = None) -> Delivery | None:
        """Press the close button: the top view goes; view_closed is sent if it asked."""
        stack = self.state.modal_stack(user_id)
        if not stack:
            raise LookupError(f"{user_id} has no modal open")
        view = stack[-1]
        self.state.set_modal_stack(user_id, stack[:-1])
        if not view.payload.get("notify_on_close"):
            return None
        payload = self._interaction_base("view_closed", user_id)
        payload["view"] = view.to_slack(self.state.config)
        payload["is_cleared"] = False
        return self._send(_payload_request("view_closed", payload, user_id), tamper)

    def _apply_response_action(self, delivery: Delivery, user_id: str) -> list[Message | View]:
        if delivery.status != 200:
            return []
        answer = delivery.json or {}
        stack = self.state.modal_stack(user_id)
        action = answer.get("response_action")
        if action == "errors":
            stack[-1].errors = dict(answer.get("errors") or {})
            return [stack[-1]]
        if action == "clear":
            self.state.set_modal_stack(user_id, [])
            return []
        if action not in ("update", "push"):
            # An empty ack closes the submitted view.
            self.state.set_modal_stack(user_id, stack[:-1])
            return []
        payload = _checked_view(answer.get("view"))
        if action == "update":
            return [self.state.rehash(stack[-1], payload)]
        if len(stack) >= MODAL_STACK_MAX:
            raise SlackError("push_limit_reached")
        pushed = self.state.new_view(user_id, payload, root_view_id=stack[0].id)
        pushed.previous_view_id = stack[-1].id
        self.state.set_modal_stack(user_id, [*stack, pushed])
        return [pushed]

    # -- events ------------------------------------------------------------------------

    def send_event(self, event: JsonDict, tamper: Tamper | None = None) -> Delivery:
        """Wrap an inner event in Slack's ``event_callback`` envelope and send it."""
        cfg = self.state.config
        now = cfg.clock()
        event = {"event_ts": f"{now:.6f}", **event}
        envelope: JsonDict = {
            "token": cfg.verification_token,
            "team_id": cfg.team_id,
            "enterprise_id": cfg.enterprise_id,
            "api_app_id": cfg.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": self.state.new_id("Ev"),
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": cfg.enterprise_id,
                    "team_id": cfg.team_id,
                    "user_id": cfg.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": self.state.new_id("EC"),
        }
        request = SentRequest("event_callback", json.dumps(envelope), JSON, envelope)
        user = event.get("user")
        # Directory events carry the whole user object rather than an id.
        request.user_id = user.get("id") if isinstance(user, dict) else user
        return self._send(request, tamper)

    def directory_changed(
        self, user_id: str, kind: str = "user_change", tamper: Tamper | None = None
    ) -> Delivery:
        """Tell the app a person's profile changed (``user_change``) or that they joined
        (``team_join``), with their whole user object as Slack sends it
        (https://api.slack.com/events/user_change, https://api.slack.com/events/team_join)."""
        user = user_object(self.state, self.state.user(user_id), locale=True)
        return self.send_event(
            {"type": kind, "user": user, "cache_ts": int(self.state.config.clock())}, tamper
        )

    def open_home(self, user_id: str, tamper: Tamper | None = None) -> Delivery:
        channel, _ = self.state.open_dm(user_id)
        event: JsonDict = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": channel.id,
            "tab": "home",
        }
        home = self.state.home_view(user_id)
        if home:
            event["view"] = home.to_slack(self.state.config)
        return self.send_event(event, tamper)

    def resend(
        self,
        delivery: Delivery,
        retry_num: int = 1,
        reason: str = "http_timeout",
        tamper: Tamper | None = None,
    ) -> Delivery:
        """Send the same request again as Slack's retry (same body and event_id)."""
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}
        return self._send(delivery.request, tamper, headers)

    # -- plumbing ----------------------------------------------------------------------

    def _interaction_base(self, kind: str, user_id: str) -> JsonDict:
        cfg = self.state.config
        user = self.state.user(user_id)
        enterprise = {"id": cfg.enterprise_id, "name": cfg.team_name} if cfg.enterprise_id else None
        return {
            "type": kind,
            "team": {"id": cfg.team_id, "domain": cfg.team_domain},
            "enterprise": enterprise,
            "user": {
                "id": user.id,
                "username": user.name,
                "name": user.name,
                "team_id": user.team_id or cfg.team_id,
            },
            "api_app_id": cfg.app_id,
            "token": cfg.verification_token,
            "trigger_id": self.state.issue_trigger(user.id),
            "is_enterprise_install": False,
        }

    def _response_url(self, channel_id: str, user_id: str, message: Message | None = None) -> str:
        target = self.state.issue_response_target(channel_id, user_id, message)
        return f"{self.response_url_base}{target.id}"

    def _send(
        self, request: SentRequest, tamper: Tamper | None, extra: dict[str, str] | None = None
    ) -> Delivery:
        if tamper is not None and tamper.team_id:
            request = _from_team(request, tamper.team_id)
        headers = {"Content-Type": request.content_type, **self._signature(request, tamper)}
        headers.update(extra or {})
        headers.update(tamper.headers if tamper else ())
        url = urlsplit(self.app_url)
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=self.timeout)
        try:
            connection.request("POST", url.path or "/", request.body.encode(), headers)
            response = connection.getresponse()
            body = response.read().decode("utf-8", "replace")
            answer_headers = dict(response.getheaders())
            return Delivery(request, response.status, body, answer_headers, headers)
        finally:
            connection.close()

    def _signature(self, request: SentRequest, tamper: Tamper | None) -> dict[str, str]:
        tamper = tamper or Tamper()
        timestamp = str(int(self.state.config.clock() - tamper.stale_by_seconds))
        secret = self.state.config.signing_secret
        if tamper.forge_signature:
            secret = "not-" + secret
        signature = SignatureVerifier(secret).generate_signature(
            timestamp=timestamp, body=request.body
        )
        return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature or ""}


def _from_team(request: SentRequest, team_id: str) -> SentRequest:
    """The same request as if it came from the workspace ``team_id``."""
    payload = _retargeted(request.payload, team_id)
    if request.content_type == JSON:
        body = json.dumps(payload)
    elif "payload" in parse_qs(request.body):
        body = urlencode({"payload": json.dumps(payload)})
    else:
        body = urlencode(payload)
    return SentRequest(request.kind, body, request.content_type, payload, request.user_id)


def _retargeted(node: Any, team_id: str) -> Any:
    if isinstance(node, dict):
        return {
            key: team_id
            if key in ("team_id", "team") and isinstance(value, str)
            else {**value, "id": team_id}
            if key == "team" and isinstance(value, dict)
            else _retargeted(value, team_id)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_retargeted(item, team_id) for item in node]
    return node


def _payload_request(kind: str, payload: JsonDict, user_id: str) -> SentRequest:
    body = urlencode({"payload": json.dumps(payload)})
    return SentRequest(kind, body, FORM, payload, user_id)


def _checked_view(view: Any) -> JsonDict:
    """A view from a response_action, held to the same rules as views.update."""
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments")
    violations = blockkit.validate_view(view)
    if violations:
        raise SlackError("invalid_arguments", [str(v) for v in violations])
    return {**view, "blocks": fill_block_ids(view.get("blocks", []))}


# -- finding and acting on elements ----------------------------------------------------


def _find_element(
    blocks: list[JsonDict], action_id: str | None, value: str | None
) -> tuple[str, JsonDict] | None:
    for block in blocks:
        for element in _elements(block):
            if action_id is not None and element.get("action_id") != action_id:
                continue
            if value is None or _element_has_value(element, value):
                return str(block.get("block_id", "")), element
    return None


def _elements(block: JsonDict) -> list[JsonDict]:
    candidates = [block.get("accessory"), *(block.get("elements") or [])]
    if block.get("type") != "actions":
        candidates = candidates[:1]
    return [e for e in candidates if isinstance(e, dict) and "action_id" in e]


def _element_has_value(element: JsonDict, value: str) -> bool:
    if element.get("type") == "button":
        return element.get("value") == value
    return _option(element, value) is not None


def _option(element: JsonDict, value: str) -> JsonDict | None:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return next((o for o in options if o.get("value") == value), None)


def _action(element: JsonDict, block_id: str, value: str | None, action_ts: str) -> JsonDict:
    action: JsonDict = {
        "type": element.get("type"),
        "action_id": element.get("action_id"),
        "block_id": block_id,
        "action_ts": action_ts,
    }
    if element.get("type") == "button":
        action.update(text=element.get("text"), value=element.get("value"))
        if element.get("style"):
            action["style"] = element["style"]
    elif value is not None:
        action["selected_option"] = _option(element, value)
    return action


def state_values(blocks: list[JsonDict], values: dict[str, Any]) -> dict[str, dict[str, JsonDict]]:
    """Slack's ``view.state.values`` for a view's input blocks, given what the user typed.

    ``values`` is keyed by action_id or block_id. As the Slack client does, a submit with a
    required input left empty is refused (ValueError) before anything is sent.
    """
    result: dict[str, dict[str, JsonDict]] = {}
    for block in blocks:
        element = block.get("element")
        if block.get("type") != "input" or not isinstance(element, dict):
            continue
        action_id, block_id = str(element.get("action_id")), str(block.get("block_id"))
        given = values.get(action_id, values.get(block_id))
        if given is None and not block.get("optional"):
            raise ValueError(f"input {block_id}/{action_id} is required")
        result[block_id] = {action_id: _input_value(element, given)}
    return result


def _input_value(element: JsonDict, given: Any) -> JsonDict:
    kind = str(element.get("type"))
    value: JsonDict = {"type": kind}
    if kind in ("static_select", "radio_buttons"):
        value["selected_option"] = None if given is None else _required_option(element, given)
    elif kind == "checkboxes":
        value["selected_options"] = [_required_option(element, g) for g in given or []]
    elif kind == "datepicker":
        value["selected_date"] = given
    elif kind == "users_select":
        value["selected_user"] = given
    elif kind == "conversations_select":
        value["selected_conversation"] = given
    else:
        # plain_text_input, number_input, email/url inputs: Slack sends strings.
        value["value"] = None if given is None else str(given)
    return value


def _required_option(element: JsonDict, given: Any) -> JsonDict:
    option = _option(element, str(given))
    if option is None:
        raise ValueError(f"{given!r} is not an option of {element.get('action_id')}")
    return option
