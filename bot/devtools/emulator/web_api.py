"""The Web API methods: each takes the workspace and the call's arguments, returns Slack's JSON.

Arguments arrive as JSON values or as form strings (slack_sdk sends ``blocks`` and
``view`` JSON-encoded in forms), so every reader here accepts both. Failures raise
``SlackError`` with Slack's error name; the server turns it into ``{"ok": false, ...}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from bot.devtools.emulator import blockkit
from bot.devtools.emulator.config import Channel, User
from bot.devtools.emulator.state import (
    JsonDict,
    Message,
    SlackError,
    View,
    WorkspaceState,
    fill_block_ids,
)

Handler = Callable[[WorkspaceState, JsonDict], JsonDict]

MODAL_STACK_MAX = 3
MEMBERS_PAGE_DEFAULT = 100
# https://docs.slack.dev/reference/methods/conversations.create: "Channel names may only
# contain lowercase letters, numbers, hyphens, and underscores, and must be 80 characters or less."
CHANNEL_NAME = re.compile(r"[a-z0-9_-]+")
CHANNEL_NAME_MAX = 80


# -- argument readers ------------------------------------------------------------------


def _flag(args: JsonDict, name: str) -> bool:
    value = args.get(name)
    return value is True or str(value).lower() in ("true", "1")


def _json_value(args: JsonDict, name: str, error: str) -> Any:
    value = args.get(name)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise SlackError(error) from None


def _blocks(args: JsonDict) -> list[JsonDict]:
    blocks = _json_value(args, "blocks", "invalid_blocks_format")
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    violations = blockkit.validate_message_blocks(blocks)
    if violations:
        raise SlackError("invalid_blocks", [str(v) for v in violations])
    return fill_block_ids(blocks)


def message_content(args: JsonDict) -> tuple[str, list[JsonDict]]:
    """(text, blocks) of a message, checked as chat.postMessage checks them."""
    text = str(args.get("text") or "")
    blocks = _blocks(args)
    if not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    if blockkit.message_text_too_long(text):
        raise SlackError("msg_too_long")
    return text, blocks


def _view_payload(args: JsonDict) -> JsonDict:
    view = _json_value(args, "view", "invalid_arguments")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", ["[ERROR] missing required field: view"])
    if blockkit.view_too_large(view):
        raise SlackError("view_too_large")
    violations = blockkit.validate_view(view)
    if violations:
        raise SlackError("invalid_arguments", [str(v) for v in violations])
    return {**view, "blocks": fill_block_ids(view.get("blocks", []))}


def _check_hash(args: JsonDict, view: View | None) -> None:
    expected = args.get("hash")
    if expected and view is not None and expected != view.hash:
        raise SlackError("hash_conflict")


# -- auth and chat ---------------------------------------------------------------------


def auth_test(state: WorkspaceState, args: JsonDict) -> JsonDict:
    cfg = state.config
    response: JsonDict = {
        "ok": True,
        "url": f"https://{cfg.team_domain}.slack.com/",
        "team": cfg.team_name,
        "user": cfg.bot_name,
        "team_id": cfg.team_id,
        "user_id": cfg.bot_user_id,
        "bot_id": cfg.bot_id,
        "is_enterprise_install": False,
    }
    if cfg.enterprise_id:
        response["enterprise_id"] = cfg.enterprise_id
    return response


def chat_post_message(state: WorkspaceState, args: JsonDict) -> JsonDict:
    channel = state.resolve_channel(args.get("channel"))
    message = _bot_message(state, channel.id, args)
    return {
        "ok": True,
        "channel": channel.id,
        "ts": message.ts,
        "message": message.to_slack(state.config),
    }


def chat_post_ephemeral(state: WorkspaceState, args: JsonDict) -> JsonDict:
    channel = state.resolve_channel(args.get("channel"))
    user = state.user(str(args.get("user") or ""))
    if not channel.is_im and user.id not in channel.members:
        raise SlackError("user_not_in_channel")
    message = _bot_message(
        state, channel.id, args, ephemeral_to=user.id, source="chat.postEphemeral"
    )
    return {"ok": True, "message_ts": message.ts}


def _bot_message(state: WorkspaceState, channel_id: str, args: JsonDict, **extra: Any) -> Message:
    """Record what the bot posted: the one shape shared by channel and ephemeral messages."""
    text, blocks = message_content(args)
    message = Message(
        channel=channel_id,
        ts=state.next_ts(),
        text=text,
        blocks=blocks,
        user=state.config.bot_user_id,
        thread_ts=args.get("thread_ts") or None,
        **extra,
    )
    state.add_message(message)
    return message


def chat_update(state: WorkspaceState, args: JsonDict) -> JsonDict:
    channel = state.resolve_channel(args.get("channel"))
    message = state.find_message(channel.id, str(args.get("ts") or ""))
    if message.ephemeral_to:
        # Ephemeral messages can only be replaced through their response_url.
        raise SlackError("message_not_found")
    if message.user != state.config.bot_user_id:
        raise SlackError("cant_update_message")
    text, blocks = message_content(args)
    with state.lock:
        message.text = text
        if "blocks" in args:
            message.blocks = blocks
        message.edited_ts = state.next_ts()
    return {
        "ok": True,
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": message.to_slack(state.config),
    }


# -- views -----------------------------------------------------------------------------


def views_open(state: WorkspaceState, args: JsonDict) -> JsonDict:
    payload = _view_payload(args)
    trigger = state.exchange_trigger(args.get("trigger_id"))
    view = state.new_view(trigger.user_id, payload)
    state.set_modal_stack(trigger.user_id, [view])
    return {"ok": True, "view": view.to_slack(state.config)}


def views_push(state: WorkspaceState, args: JsonDict) -> JsonDict:
    payload = _view_payload(args)
    trigger = state.exchange_trigger(args.get("trigger_id"))
    stack = state.modal_stack(trigger.user_id)
    if not stack:
        raise SlackError("not_found")
    if len(stack) >= MODAL_STACK_MAX:
        raise SlackError("push_limit_reached")
    view = state.new_view(trigger.user_id, payload, root_view_id=stack[0].id)
    view.previous_view_id = stack[-1].id
    state.set_modal_stack(trigger.user_id, [*stack, view])
    return {"ok": True, "view": view.to_slack(state.config)}


def views_update(state: WorkspaceState, args: JsonDict) -> JsonDict:
    payload = _view_payload(args)
    if args.get("view_id"):
        view = state.view(str(args["view_id"]))
    elif args.get("external_id"):
        view = state.view_by_external_id(str(args["external_id"]))
    else:
        raise SlackError("not_found")
    _check_hash(args, view)
    state.rehash(view, payload)
    return {"ok": True, "view": view.to_slack(state.config)}


def views_publish(state: WorkspaceState, args: JsonDict) -> JsonDict:
    user = state.user(str(args.get("user_id") or ""))
    payload = _view_payload(args)
    if payload.get("type") != "home":
        raise SlackError("invalid_arguments", ["[ERROR] must be home [json-pointer:/view/type]"])
    current = state.home_view(user.id)
    _check_hash(args, current)
    # A user's Home tab keeps its view id across publishes; only the hash changes.
    view = state.rehash(current, payload) if current else state.new_view(user.id, payload)
    state.set_home_view(user.id, view)
    return {"ok": True, "view": view.to_slack(state.config)}


# -- conversations and users -----------------------------------------------------------


def conversations_open(state: WorkspaceState, args: JsonDict) -> JsonDict:
    if args.get("channel"):
        channel, already_open = state.resolve_channel(str(args["channel"])), True
    else:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 1:
            # Multi-person DMs are not emulated; the app only opens one-to-one DMs.
            raise SlackError("not_supported")
        if state.user(users[0]).deleted:
            # https://api.slack.com/methods/conversations.open#errors: "The user has been
            # disabled": Slack opens no DM with a deactivated account.
            raise SlackError("user_disabled")
        channel, already_open = state.open_dm(users[0])
    body = _channel_object(state, channel) if _flag(args, "return_im") else {"id": channel.id}
    return {"ok": True, "no_op": already_open, "already_open": already_open, "channel": body}


def conversations_info(state: WorkspaceState, args: JsonDict) -> JsonDict:
    channel = state.resolve_channel(str(args.get("channel") or ""))
    body = _channel_object(state, channel)
    if _flag(args, "include_num_members"):
        body["num_members"] = len(channel.members)
    return {"ok": True, "channel": body}


def _channel_object(state: WorkspaceState, channel: Channel) -> JsonDict:
    if channel.is_im:
        return {
            "id": channel.id,
            "created": channel.created,
            "is_im": True,
            "is_org_shared": False,
            "user": channel.dm_user,
            "is_user_deleted": state.user(str(channel.dm_user)).deleted,
        }
    return {
        "id": channel.id,
        "name": channel.name,
        "name_normalized": channel.name,
        "is_channel": not channel.is_private,
        "is_group": channel.is_private,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel.is_private,
        "is_archived": False,
        "is_general": channel.name == "general",
        "is_member": state.config.bot_user_id in channel.members,
        "created": channel.created,
        "context_team_id": state.config.team_id,
    }


def conversations_create(state: WorkspaceState, args: JsonDict) -> JsonDict:
    """https://docs.slack.dev/reference/methods/conversations.create: the caller (the app,
    the only token here) creates the channel and is its first member."""
    name = str(args.get("name") or "")
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > CHANNEL_NAME_MAX:
        raise SlackError("invalid_name_maxlength")
    if not CHANNEL_NAME.fullmatch(name):
        raise SlackError("invalid_name_specials")
    if not name.strip("-_"):
        raise SlackError("invalid_name_punctuation")
    bot = state.config.bot_user_id
    with state.lock:
        if any(c.name == name for c in state.channels.values() if not c.is_im):
            raise SlackError("name_taken")
        channel = state.add_channel(name, [bot], is_private=_flag(args, "is_private"))
    return {"ok": True, "channel": {**_channel_object(state, channel), "creator": bot}}


def conversations_invite(state: WorkspaceState, args: JsonDict) -> JsonDict:
    """https://docs.slack.dev/reference/methods/conversations.invite: the caller must be a
    member; if any user cannot be invited, nobody is."""
    channel = state.resolve_channel(str(args.get("channel") or ""))
    if channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    bot = state.config.bot_user_id
    if bot not in channel.members:
        raise SlackError("not_in_channel")
    users = [u for u in str(args.get("users") or "").split(",") if u]
    if not users:
        raise SlackError("no_user")
    for user_id in users:
        state.user(user_id)
        if user_id == bot:
            raise SlackError("cant_invite_self")
        if user_id in channel.members:
            raise SlackError("already_in_channel")
    with state.lock:
        channel.members.extend(users)
    return {"ok": True, "channel": _channel_object(state, channel)}


def conversations_members(state: WorkspaceState, args: JsonDict) -> JsonDict:
    channel = state.resolve_channel(str(args.get("channel") or ""))
    members = list(channel.members)
    start = _cursor_offset(str(args.get("cursor") or ""), members)
    limit = int(args.get("limit") or MEMBERS_PAGE_DEFAULT)
    page = members[start : start + limit]
    rest = members[start + limit : start + limit + 1]
    next_cursor = base64.b64encode(f"user:{rest[0]}".encode()).decode() if rest else ""
    return {"ok": True, "members": page, "response_metadata": {"next_cursor": next_cursor}}


def _cursor_offset(cursor: str, members: list[str]) -> int:
    """Slack's cursors are opaque; like Slack's, ours encode the next member ("user:U...")."""
    if not cursor:
        return 0
    try:
        kind, _, member = base64.b64decode(cursor, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if kind != "user" or member not in members:
        raise SlackError("invalid_cursor")
    return members.index(member)


def users_info(state: WorkspaceState, args: JsonDict) -> JsonDict:
    # https://api.slack.com/methods/users.info: the locale only with include_locale=true.
    user = state.user(str(args.get("user") or ""))
    return {"ok": True, "user": user_object(state, user, locale=_flag(args, "include_locale"))}


def users_list(state: WorkspaceState, args: JsonDict) -> JsonDict:
    with state.lock:
        users = list(state.users.values())
    ids = [user.id for user in users]
    start = _cursor_offset(str(args.get("cursor") or ""), ids)
    # Like Slack, no limit means the whole directory in one answer.
    limit = int(args.get("limit") or 0) or len(users)
    page = users[start : start + limit]
    rest = ids[start + limit : start + limit + 1]
    next_cursor = base64.b64encode(f"user:{rest[0]}".encode()).decode() if rest else ""
    return {
        "ok": True,
        "members": [
            user_object(state, user, locale=_flag(args, "include_locale")) for user in page
        ],
        "cache_ts": int(state.config.clock()),
        "response_metadata": {"next_cursor": next_cursor},
    }


def user_object(state: WorkspaceState, user: User, *, locale: bool = False) -> JsonDict:
    """Slack's user object (https://api.slack.com/types/user), as users.info and user_change
    carry it; on Enterprise Grid with ``enterprise_user``."""
    body: JsonDict = {
        "id": user.id,
        "team_id": user.team_id or state.config.team_id,
        "name": user.name,
        "real_name": user.real_name,
        "deleted": user.deleted,
        "tz": user.tz,
        "tz_label": user.tz_label,
        "tz_offset": user.tz_offset,
        "is_admin": user.is_admin,
        "is_owner": False,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "is_restricted": user.is_restricted,
        "is_ultra_restricted": user.is_ultra_restricted,
        "profile": {
            "real_name": user.real_name,
            "display_name": user.name,
            "team": state.config.team_id,
        },
    }
    if locale:
        body["locale"] = user.locale
    if state.config.enterprise_id and not user.team_id:
        body["enterprise_user"] = {
            "id": user.id,
            "enterprise_id": state.config.enterprise_id,
            "teams": [state.config.team_id],
        }
    return body


METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.postMessage": chat_post_message,
    "chat.update": chat_update,
    "conversations.create": conversations_create,
    "conversations.info": conversations_info,
    "conversations.invite": conversations_invite,
    "conversations.members": conversations_members,
    "conversations.open": conversations_open,
    "users.info": users_info,
    "users.list": users_list,
    "views.open": views_open,
    "views.publish": views_publish,
    "views.push": views_push,
    "views.update": views_update,
}
