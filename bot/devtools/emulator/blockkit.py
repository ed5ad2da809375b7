"""Block Kit validation as Slack's servers apply it, as a pure function others can reuse.

Slack reports each problem as ``[ERROR] <what> [json-pointer:<where>]`` in
``response_metadata.messages``; messages fail with ``invalid_blocks`` and views with
``invalid_arguments``. The limits below are those of Slack's Block Kit reference.
Slack phrases a length limit of N as "must be less than N+1 characters".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
MESSAGE_TEXT_MAX = 40_000
VIEW_MAX_BYTES = 250_000
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
ID_MAX = 255
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
INPUT_LABEL_MAX = 2000
PLACEHOLDER_MAX = 150
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
SELECT_OPTIONS_MAX = 100
CHOICE_OPTIONS_MAX = 10
MODAL_TEXT_MAX = 24
PRIVATE_METADATA_MAX = 3000
IMAGE_ALT_TEXT_MAX = 2000

KNOWN_BLOCKS = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (a JSON pointer) and what, worded as Slack words it."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"[ERROR] {self.message} [json-pointer:{self.pointer}]"


def validate_message_blocks(blocks: Sequence[Any]) -> list[Violation]:
    """Violations in a message's ``blocks`` (empty when Slack would accept them)."""
    return _validate_block_list(blocks, "/blocks", MESSAGE_MAX_BLOCKS)


def message_text_too_long(text: str | None) -> bool:
    """Slack answers ``msg_too_long`` past 40,000 characters of top-level text."""
    return text is not None and len(text) > MESSAGE_TEXT_MAX


def view_too_large(view: Mapping[str, Any]) -> bool:
    """Slack answers ``view_too_large`` for a view payload over 250 kB."""
    return len(json.dumps(view).encode()) > VIEW_MAX_BYTES


def validate_view(view: Mapping[str, Any]) -> list[Violation]:
    """Violations in a modal or Home tab view (empty when Slack would accept it)."""
    found: list[Violation] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        found.append(Violation("/view/type", "must be one of modal, home"))
    if kind == "modal":
        found += _modal_texts(view)
    found += _max_len(view.get("private_metadata"), PRIVATE_METADATA_MAX, "/view/private_metadata")
    found += _max_len(view.get("callback_id"), ID_MAX, "/view/callback_id")
    found += _max_len(view.get("external_id"), ID_MAX, "/view/external_id")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return [*found, Violation("/view/blocks", "must provide an array")]
    return found + _validate_block_list(blocks, "/view/blocks", VIEW_MAX_BLOCKS)


def _modal_texts(view: Mapping[str, Any]) -> list[Violation]:
    found: list[Violation] = []
    if not isinstance(view.get("title"), Mapping):
        found.append(Violation("/view/title", "must provide an object"))
    for key in ("title", "submit", "close"):
        found += _text_object(view.get(key), MODAL_TEXT_MAX, f"/view/{key}", plain_only=True)
    has_input = any(isinstance(b, Mapping) and b.get("type") == "input" for b in _list(view))
    if has_input and view.get("submit") is None:
        found.append(Violation("/view/submit", "submit is required when an input block is present"))
    return found


def _list(view: Mapping[str, Any]) -> list[Any]:
    blocks = view.get("blocks")
    return blocks if isinstance(blocks, list) else []


def _validate_block_list(blocks: Sequence[Any], pointer: str, limit: int) -> list[Violation]:
    if len(blocks) > limit:
        return [Violation(pointer, f"no more than {limit} items allowed")]
    found: list[Violation] = []
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"{pointer}/{index}"
        found += _validate_block(block, where)
        block_id = block.get("block_id") if isinstance(block, Mapping) else None
        if isinstance(block_id, str):
            if block_id in block_ids:
                found.append(Violation(f"{where}/block_id", "duplicate block_id"))
            block_ids.add(block_id)
    return found


def _validate_block(block: Any, where: str) -> list[Violation]:
    if not isinstance(block, Mapping):
        return [Violation(where, "must provide an object")]
    kind = block.get("type")
    if kind not in KNOWN_BLOCKS:
        return [Violation(where, "failed to match all allowed schemas")]
    found = _max_len(block.get("block_id"), ID_MAX, f"{where}/block_id")
    check = _BLOCK_CHECKS.get(kind)
    return found + check(block, where) if check else found


def _section(block: Mapping[str, Any], where: str) -> list[Violation]:
    text, fields = block.get("text"), block.get("fields")
    if text is None and not fields:
        return [Violation(where, "must provide either text or fields")]
    found = _text_object(text, SECTION_TEXT_MAX, f"{where}/text")
    if fields is not None:
        found += _section_fields(fields, f"{where}/fields")
    if block.get("accessory") is not None:
        found += _element(block["accessory"], f"{where}/accessory")
    return found


def _section_fields(fields: Any, where: str) -> list[Violation]:
    if not isinstance(fields, list):
        return [Violation(where, "must provide an array")]
    if len(fields) > SECTION_FIELDS_MAX:
        return [Violation(where, f"no more than {SECTION_FIELDS_MAX} items allowed")]
    found: list[Violation] = []
    for index, field in enumerate(fields):
        found += _text_object(field, SECTION_FIELD_TEXT_MAX, f"{where}/{index}")
    return found


def _header(block: Mapping[str, Any], where: str) -> list[Violation]:
    text = block.get("text")
    if text is None:
        return [Violation(f"{where}/text", "must provide an object")]
    return _text_object(text, HEADER_TEXT_MAX, f"{where}/text", plain_only=True)


def _context(block: Mapping[str, Any], where: str) -> list[Violation]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [Violation(f"{where}/elements", "must provide a non-empty array")]
    if len(elements) > CONTEXT_ELEMENTS_MAX:
        return [
            Violation(f"{where}/elements", f"no more than {CONTEXT_ELEMENTS_MAX} items allowed")
        ]
    found: list[Violation] = []
    for index, element in enumerate(elements):
        if isinstance(element, Mapping) and element.get("type") in ("plain_text", "mrkdwn"):
            found += _text_object(element, SECTION_TEXT_MAX, f"{where}/elements/{index}")
    return found


def _actions(block: Mapping[str, Any], where: str) -> list[Violation]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [Violation(f"{where}/elements", "must provide a non-empty array")]
    if len(elements) > ACTIONS_ELEMENTS_MAX:
        limit = ACTIONS_ELEMENTS_MAX
        return [Violation(f"{where}/elements", f"no more than {limit} items allowed")]
    found: list[Violation] = []
    for index, element in enumerate(elements):
        found += _element(element, f"{where}/elements/{index}")
    return found


def _input(block: Mapping[str, Any], where: str) -> list[Violation]:
    found = _text_object(block.get("label"), INPUT_LABEL_MAX, f"{where}/label", plain_only=True)
    if block.get("label") is None:
        found.append(Violation(f"{where}/label", "must provide an object"))
    found += _text_object(block.get("hint"), INPUT_LABEL_MAX, f"{where}/hint", plain_only=True)
    element = block.get("element")
    if element is None:
        return [*found, Violation(f"{where}/element", "must provide an object")]
    return found + _element(element, f"{where}/element")


def _image(block: Mapping[str, Any], where: str) -> list[Violation]:
    found = _max_len(block.get("alt_text"), IMAGE_ALT_TEXT_MAX, f"{where}/alt_text")
    return found + _max_len(block.get("image_url"), URL_MAX, f"{where}/image_url")


_BLOCK_CHECKS: dict[str, Callable[[Mapping[str, Any], str], list[Violation]]] = {
    "actions": _actions,
    "context": _context,
    "header": _header,
    "image": _image,
    "input": _input,
    "section": _section,
}


def _element(element: Any, where: str) -> list[Violation]:
    if not isinstance(element, Mapping):
        return [Violation(where, "must provide an object")]
    found = _max_len(element.get("action_id"), ID_MAX, f"{where}/action_id")
    found += _text_object(element.get("placeholder"), PLACEHOLDER_MAX, f"{where}/placeholder")
    if element.get("type") == "button":
        found += _button(element, where)
    found += _options(element.get("options"), element.get("type"), f"{where}/options")
    return found


def _button(element: Mapping[str, Any], where: str) -> list[Violation]:
    found = _text_object(element.get("text"), BUTTON_TEXT_MAX, f"{where}/text", plain_only=True)
    found += _max_len(element.get("value"), BUTTON_VALUE_MAX, f"{where}/value")
    return found + _max_len(element.get("url"), URL_MAX, f"{where}/url")


def _options(options: Any, element_type: Any, where: str) -> list[Violation]:
    if options is None:
        return []
    if not isinstance(options, list):
        return [Violation(where, "must provide an array")]
    is_choice = element_type in ("radio_buttons", "checkboxes")
    limit = CHOICE_OPTIONS_MAX if is_choice else SELECT_OPTIONS_MAX
    if len(options) > limit:
        return [Violation(where, f"no more than {limit} items allowed")]
    found: list[Violation] = []
    for index, option in enumerate(options):
        if not isinstance(option, Mapping):
            found.append(Violation(f"{where}/{index}", "must provide an object"))
            continue
        # Radio buttons and checkboxes render long mrkdwn options; selects cap the label.
        text_max = SECTION_TEXT_MAX if is_choice else OPTION_TEXT_MAX
        found += _text_object(option.get("text"), text_max, f"{where}/{index}/text")
        found += _max_len(option.get("value"), OPTION_VALUE_MAX, f"{where}/{index}/value")
    return found


def _text_object(
    obj: Any, max_chars: int, where: str, *, plain_only: bool = False
) -> list[Violation]:
    """Check a text composition object; ``None`` means the optional object is absent."""
    if obj is None:
        return []
    if not isinstance(obj, Mapping):
        return [Violation(where, "must provide an object")]
    found: list[Violation] = []
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        found.append(Violation(f"{where}/type", f"must be one of {', '.join(allowed)}"))
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [*found, Violation(f"{where}/text", "must be more than 0 characters")]
    return found + _max_len(text, max_chars, f"{where}/text")


def _max_len(value: Any, max_chars: int, where: str) -> list[Violation]:
    if isinstance(value, str) and len(value) > max_chars:
        return [Violation(where, f"must be less than {max_chars + 1} characters")]
    return []
