"""Block Kit limits, and the safety net that fits a rendered payload inside them.

Templates are expected to stay within these limits themselves; this module makes sure that a
long user-supplied name shortens a text instead of making Slack reject the whole message.
Identifiers built by code (`block_id`, `action_id`, `value`, `private_metadata`, ...) are
never shortened: a cut identifier would silently point at the wrong thing, so it is an error.
"""

from __future__ import annotations

import logging
from typing import Any

from templates.mrkdwn import slack_length, truncate

logger = logging.getLogger(__name__)

MESSAGE_TEXT_LIMIT = 40_000
NOTIFICATION_TEXT_LIMIT = 3_000
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
PLACEHOLDER_LIMIT = 150

# (kind of the object that holds a text object, key it is held under) -> max text length.
# The kind is the holder's "type", or for untyped objects the key it sits under (_UNTYPED_KINDS).
TEXT_LIMITS: dict[tuple[str, str], int] = {
    ("section", "text"): 3000,
    ("section", "fields"): 2000,
    ("header", "text"): 150,
    ("context", "elements"): 2000,
    ("input", "label"): 2000,
    ("input", "hint"): 2000,
    ("image", "title"): 2000,
    ("button", "text"): 75,
    ("option", "text"): 75,
    ("option", "description"): 75,
    ("option_group", "label"): 75,
    ("confirm", "title"): 100,
    ("confirm", "text"): 300,
    ("confirm", "confirm"): 30,
    ("confirm", "deny"): 30,
    ("modal", "title"): 24,
    ("modal", "submit"): 24,
    ("modal", "close"): 24,
}

# Lists Slack caps in length; extra items are dropped (with a warning).
LIST_LIMITS: dict[tuple[str, str], int] = {
    ("section", "fields"): 10,
    ("context", "elements"): 10,
}

ID_LIMITS: dict[str, int] = {
    "block_id": 255,
    "action_id": 255,
    "callback_id": 255,
    "external_id": 255,
    "value": 2000,
    "private_metadata": 3000,
}

_UNTYPED_KINDS = {
    "options": "option",
    "initial_options": "option",
    "initial_option": "option",
    "option_groups": "option_group",
    "confirm": "confirm",
}

_TEXT_TYPES = ("plain_text", "mrkdwn")
# Slack rejects a text object whose text is empty or blank. A user value can end up blank
# (only spaces, or only control characters that escaping drops), and that must not make the
# whole message fail, so it shows as a dash.
BLANK_TEXT = "—"


class LimitExceededError(ValueError):
    """An identifier built by code is longer than Slack allows."""


def _is_text_object(node: object) -> bool:
    return isinstance(node, dict) and node.get("type") in _TEXT_TYPES


def _fit_text_object(text_object: dict[str, Any], limit: int) -> None:
    text = text_object.get("text")
    if isinstance(text, str):
        is_mrkdwn = text_object["type"] == "mrkdwn"
        text_object["text"] = truncate(text, limit, mrkdwn=is_mrkdwn)


def _check_identifier(key: str, value: object) -> None:
    if isinstance(value, str) and slack_length(value) > ID_LIMITS[key]:
        raise LimitExceededError(
            f"{key} is {slack_length(value)} characters, Slack allows {ID_LIMITS[key]}: "
            f"{value[:60]!r}..."
        )


def _text_limit(kind: str, key: str) -> int | None:
    if key == "placeholder":
        return PLACEHOLDER_LIMIT
    return TEXT_LIMITS.get((kind, key))


def _fit_list(items: list[Any], kind: str, key: str) -> None:
    cap = LIST_LIMITS.get((kind, key))
    if cap is not None and len(items) > cap:
        logger.warning("dropping %d %s.%s beyond Slack's %d", len(items) - cap, kind, key, cap)
        del items[cap:]
    limit = _text_limit(kind, key)
    for item in items:
        if limit is not None and _is_text_object(item):
            _fit_text_object(item, limit)
        fit_tree(item, _UNTYPED_KINDS.get(key, ""))


def _fit_dict(node: dict[str, Any], kind: str) -> None:
    if kind in _TEXT_TYPES and isinstance(node.get("text"), str) and not node["text"].strip():
        node["text"] = BLANK_TEXT
    for key, value in node.items():
        if key in ID_LIMITS:
            _check_identifier(key, value)
        if isinstance(value, list):
            _fit_list(value, kind, key)
        elif isinstance(value, dict):
            limit = _text_limit(kind, key)
            if limit is not None and _is_text_object(value):
                _fit_text_object(value, limit)
            fit_tree(value, _UNTYPED_KINDS.get(key, ""))


def fit_tree(node: Any, kind: str = "") -> None:
    """Fit every text object under `node` to its limit, in place; check identifiers.

    `kind` names `node` when it has no "type" of its own (an option, a confirm dialog).
    """
    if isinstance(node, dict):
        _fit_dict(node, node.get("type") or kind)
    elif isinstance(node, list):
        for item in node:
            fit_tree(item, kind)


def cap_blocks(blocks: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Keep the first `limit - 1` blocks and say how many more there were, if over `limit`."""
    if len(blocks) <= limit:
        return blocks
    hidden = len(blocks) - (limit - 1)
    logger.warning("%d blocks exceed Slack's limit of %d; %d not shown", len(blocks), limit, hidden)
    notice = {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"…and {hidden:,} more not shown"}],
    }
    return [*blocks[: limit - 1], notice]
