"""What the emulated workspace holds and what happened in it: plain, thread-safe records.

Everything recorded is a dataclass of plain values (str, dict, list) so a console or a
test can read and render it without knowing the emulator's internals.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from bot.devtools.emulator.config import Channel, EmulatorConfig, User

JsonDict = dict[str, Any]


class SlackError(Exception):
    """A Web API failure, named exactly as Slack names it."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[JsonDict]
    user: str
    thread_ts: str | None = None
    # The only user who sees it, for an ephemeral message.
    ephemeral_to: str | None = None
    # How it arrived: a Web API method, "response_url" or "ack".
    source: str = "chat.postMessage"
    edited_ts: str | None = None

    def to_slack(self, config: EmulatorConfig) -> JsonDict:
        """The message object Slack returns and embeds in interaction payloads."""
        message: JsonDict = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "team": config.team_id,
            "bot_id": config.bot_id,
            "app_id": config.app_id,
            "blocks": self.blocks,
        }
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if self.edited_ts:
            message["edited"] = {"user": self.user, "ts": self.edited_ts}
        return message


@dataclass
class View:
    id: str
    user_id: str
    # The view as the app sent it, with Slack's generated block_ids filled in.
    payload: JsonDict
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    # state.values as the user left them: {block_id: {action_id: value object}}.
    state_values: dict[str, dict[str, JsonDict]] = field(default_factory=dict)
    # The last response_action=errors the app answered: {block_id: message}.
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.payload.get("type", ""))

    @property
    def callback_id(self) -> str:
        return str(self.payload.get("callback_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.payload.get("private_metadata", ""))

    @property
    def blocks(self) -> list[JsonDict]:
        return list(self.payload.get("blocks", []))

    @property
    def title(self) -> str:
        return str((self.payload.get("title") or {}).get("text", ""))

    def to_slack(self, config: EmulatorConfig) -> JsonDict:
        """The view object Slack returns from views.* and sends in payloads."""
        return {
            "id": self.id,
            "team_id": config.team_id,
            "type": self.type,
            "title": self.payload.get("title"),
            "submit": self.payload.get("submit"),
            "close": self.payload.get("close"),
            "blocks": self.blocks,
            "private_metadata": self.private_metadata,
            "callback_id": self.callback_id,
            "external_id": self.payload.get("external_id", ""),
            "state": {"values": copy.deepcopy(self.state_values)},
            "hash": self.hash,
            "clear_on_close": bool(self.payload.get("clear_on_close", False)),
            "notify_on_close": bool(self.payload.get("notify_on_close", False)),
            "root_view_id": self.root_view_id,
            "previous_view_id": self.previous_view_id,
            "app_id": config.app_id,
            "app_installed_team_id": config.team_id,
            "bot_id": config.bot_id,
        }


@dataclass
class Call:
    """One Web API call as the emulator answered it."""

    method: str
    args: JsonDict
    status: int
    response: JsonDict
    at: float


@dataclass
class Trigger:
    id: str
    user_id: str
    issued_at: float
    exchanged: bool = False


@dataclass
class ResponseTarget:
    """Where a response_url's messages land, and which message it may replace."""

    id: str
    channel_id: str
    user_id: str
    message_ts: str | None
    # Whether the original was ephemeral (replace_original then edits the ephemeral).
    original_ephemeral: bool = False


class WorkspaceState:
    """The workspace, guarded by one lock: every method is safe from any thread."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._last_ts_us = 0
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self._dm_by_user: dict[str, str] = {}
        self._messages: dict[str, list[Message]] = {}
        self._ephemerals: list[Message] = []
        self._modal_stacks: dict[str, list[View]] = {}
        self._home_views: dict[str, View] = {}
        self._views: dict[str, View] = {}
        self._calls: list[Call] = []
        self._triggers: dict[str, Trigger] = {}
        self._response_targets: dict[str, ResponseTarget] = {}
        self.revoked_tokens: dict[str, str] = {}
        self._seed(config)

    def _seed(self, config: EmulatorConfig) -> None:
        bot = User(config.bot_user_id, config.bot_name, config.bot_name, is_bot=True)
        for user in [bot, *config.users]:
            self.users[user.id] = copy.deepcopy(user)
        for channel in config.channels:
            self.channels[channel.id] = copy.deepcopy(channel)
            if channel.dm_user:
                self._dm_by_user[channel.dm_user] = channel.id

    # -- identifiers -------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """Slack-looking ids (prefix + 10 upper-case alphanumerics), unique per emulator."""
        with self.lock:
            number = next(self._ids)
        return f"{prefix}{number:010X}"

    def next_ts(self) -> str:
        """A message ts from the clock, strictly increasing as Slack's are per channel."""
        with self.lock:
            now_us = int(self.config.clock() * 1_000_000)
            self._last_ts_us = max(now_us, self._last_ts_us + 1)
            return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    # -- people and places -------------------------------------------------------------

    def add_user(self, name: str, **profile: Any) -> User:
        user = User(id=profile.pop("id", None) or self.new_id("U"), name=name, **profile)
        user.real_name = user.real_name or name
        with self.lock:
            self.users[user.id] = user
        return user

    def add_channel(
        self, name: str, members: list[str] | None = None, *, is_private: bool = False
    ) -> Channel:
        prefix = "G" if is_private else "C"
        with self.lock:
            channel_id = self.new_id(prefix)
            # A seeded channel (one an earlier console session made) may hold a counter's id.
            while channel_id in self.channels:
                channel_id = self.new_id(prefix)
            channel = Channel(
                id=channel_id,
                name=name,
                members=list(members or []),
                is_private=is_private,
                created=int(self.config.clock()),
            )
            self.channels[channel.id] = channel
        return channel

    def user(self, user_id: str) -> User:
        with self.lock:
            user = self.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return user

    def resolve_channel(self, ref: str | None) -> Channel:
        """A channel by id, by name (with or without '#'), or a user id meaning their DM."""
        if not ref:
            raise SlackError("channel_not_found")
        with self.lock:
            if ref in self.channels:
                return self.channels[ref]
            if ref in self.users:
                return self.open_dm(ref)[0]
            name = ref.removeprefix("#")
            for channel in self.channels.values():
                if channel.name == name and not channel.is_im:
                    return channel
        raise SlackError("channel_not_found")

    def open_dm(self, user_id: str) -> tuple[Channel, bool]:
        """The app's DM channel with a user (stable), and whether it already existed."""
        self.user(user_id)
        with self.lock:
            existing = self._dm_by_user.get(user_id)
            if existing:
                return self.channels[existing], True
            channel = Channel(
                id=self.new_id("D"),
                name=user_id,
                members=[user_id, self.config.bot_user_id],
                dm_user=user_id,
                created=int(self.config.clock()),
            )
            self.channels[channel.id] = channel
            self._dm_by_user[user_id] = channel.id
            return channel, False

    # -- messages ----------------------------------------------------------------------

    def add_message(self, message: Message) -> Message:
        with self.lock:
            if message.ephemeral_to:
                self._ephemerals.append(message)
            else:
                self._messages.setdefault(message.channel, []).append(message)
        return message

    def find_message(self, channel_id: str, ts: str) -> Message:
        with self.lock:
            for message in [*self._messages.get(channel_id, []), *self._ephemerals]:
                if message.ts == ts and message.channel == channel_id:
                    return message
        raise SlackError("message_not_found")

    def delete_message(self, message: Message) -> None:
        with self.lock:
            pool = self._ephemerals if message.ephemeral_to else self._messages[message.channel]
            pool.remove(message)

    # -- views -------------------------------------------------------------------------

    def new_view(self, user_id: str, payload: JsonDict, root_view_id: str | None = None) -> View:
        view_id = self.new_id("V")
        return View(
            id=view_id,
            user_id=user_id,
            payload=payload,
            hash=self._view_hash(),
            root_view_id=root_view_id or view_id,
        )

    def _view_hash(self) -> str:
        return f"{int(self.config.clock())}.{secrets.token_hex(4)}"

    def rehash(self, view: View, payload: JsonDict) -> View:
        """Replace a view's content in place, as views.update does (new hash, same id)."""
        with self.lock:
            view.payload = payload
            view.hash = self._view_hash()
            view.errors = {}
        return view

    def view(self, view_id: str) -> View:
        with self.lock:
            view = self._views.get(view_id)
        if view is None:
            raise SlackError("not_found")
        return view

    def view_by_external_id(self, external_id: str) -> View:
        with self.lock:
            for view in self._views.values():
                if view.payload.get("external_id") == external_id:
                    return view
        raise SlackError("not_found")

    def set_modal_stack(self, user_id: str, stack: list[View]) -> None:
        with self.lock:
            self._modal_stacks[user_id] = stack
            for view in stack:
                self._views[view.id] = view

    def set_home_view(self, user_id: str, view: View) -> None:
        with self.lock:
            self._home_views[user_id] = view
            self._views[view.id] = view

    # -- triggers and response URLs ----------------------------------------------------

    def issue_trigger(self, user_id: str) -> str:
        """A trigger_id in Slack's "digits.digits.hex" shape, valid for a few seconds."""
        now = self.config.clock()
        trigger_id = f"{next(self._ids)}.{int(now)}.{secrets.token_hex(16)}"
        with self.lock:
            self._triggers[trigger_id] = Trigger(trigger_id, user_id, now)
        return trigger_id

    def exchange_trigger(self, trigger_id: str | None) -> Trigger:
        with self.lock:
            trigger = self._triggers.get(trigger_id or "")
            if trigger is None:
                raise SlackError("invalid_trigger_id")
            if self.config.clock() - trigger.issued_at > self.config.trigger_ttl_seconds:
                raise SlackError("expired_trigger_id")
            if trigger.exchanged:
                raise SlackError("exchanged_trigger_id")
            trigger.exchanged = True
            return trigger

    def issue_response_target(
        self, channel_id: str, user_id: str, message: Message | None = None
    ) -> ResponseTarget:
        target = ResponseTarget(
            id=secrets.token_urlsafe(12),
            channel_id=channel_id,
            user_id=user_id,
            message_ts=message.ts if message else None,
            original_ephemeral=bool(message and message.ephemeral_to),
        )
        with self.lock:
            self._response_targets[target.id] = target
        return target

    def response_target(self, target_id: str) -> ResponseTarget | None:
        with self.lock:
            return self._response_targets.get(target_id)

    # -- the call log and queries ------------------------------------------------------

    def record_call(self, call: Call) -> None:
        with self.lock:
            self._calls.append(call)

    def calls(self, method: str | None = None) -> list[Call]:
        with self.lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel_id: str) -> list[Message]:
        """Messages everyone in the channel sees, oldest first (thread replies included)."""
        with self.lock:
            return list(self._messages.get(channel_id, []))

    def dms(self, user_id: str) -> list[Message]:
        with self.lock:
            channel_id = self._dm_by_user.get(user_id)
            return list(self._messages.get(channel_id, [])) if channel_id else []

    def ephemerals(self, user_id: str, channel_id: str | None = None) -> list[Message]:
        with self.lock:
            return [
                m
                for m in self._ephemerals
                if m.ephemeral_to == user_id and channel_id in (None, m.channel)
            ]

    def home_view(self, user_id: str) -> View | None:
        with self.lock:
            return self._home_views.get(user_id)

    def modal_stack(self, user_id: str) -> list[View]:
        with self.lock:
            return list(self._modal_stacks.get(user_id, []))

    def all_messages(self) -> list[Message]:
        with self.lock:
            everything = [m for ms in self._messages.values() for m in ms] + self._ephemerals
        return sorted(everything, key=lambda m: m.ts)


def fill_block_ids(blocks: list[Any]) -> list[Any]:
    """Copy blocks, giving each block and interactive element the ids Slack would generate.

    Slack assigns a short random block_id (and action_id) when the app gives none, so
    interaction payloads always carry one; deriving them from content keeps them stable.
    """
    filled = copy.deepcopy(blocks)
    for index, block in enumerate(filled):
        if not isinstance(block, dict):
            continue
        if "block_id" not in block:
            block["block_id"] = _short_id(block, index)
        for element in _interactive_elements(block):
            if "action_id" not in element:
                element["action_id"] = _short_id(element, index)
    return filled


def _interactive_elements(block: JsonDict) -> list[JsonDict]:
    elements = [block.get("accessory"), block.get("element")]
    if block.get("type") == "actions":
        elements += block.get("elements") or []
    return [e for e in elements if isinstance(e, dict)]


def _short_id(obj: Any, index: int) -> str:
    digest = hashlib.sha1(f"{index}:{obj!r}".encode()).hexdigest()
    return digest[:5]
