"""Block Kit as terminal text: what the console prints for messages, modals and the Home tab.

Everything here reads the emulator's recorded ``Message``/``View`` as plain data. Text the app
sent is shown the way Slack would show it: mrkdwn's ``&amp;``/``&lt;``/``&gt;`` decoded, and
Slack's own tokens (``<@U123>``, ``<#C123|name>``, ``<!here>``, ``<https://x|label>``) turned into
words. Whatever the text holds, it cannot drive the terminal: control characters (ANSI escapes
included) and bidi overrides are dropped before anything is printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.devtools.emulator import Message, View

JsonDict = dict[str, Any]
Names = Callable[[str], str]

# C0 controls except tab and newline, DEL, C1 controls (ESC and CSI start terminal escape
# sequences), and bidi embeddings, overrides and isolates, which would reorder our own text.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_TOKEN_OR_ENTITY = re.compile(r"<([^<>]*)>|&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}
RULE = "-" * 60


@dataclass(frozen=True)
class Style:
    """ANSI emphasis, only when the output is a terminal."""

    color: bool = False

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def accent(self, text: str) -> str:
        return self._wrap("36", text)


@dataclass(frozen=True)
class Confirm:
    """A button's confirmation dialog, which Slack shows before it sends the click."""

    title: str
    text: str
    confirm: str
    deny: str


@dataclass(frozen=True)
class Button:
    """A numbered button on screen: ``click N`` presses it within its message or view."""

    number: int
    label: str
    action_id: str
    value: str | None
    container: Message | View
    confirm: Confirm | None = None


@dataclass(frozen=True)
class Screen:
    lines: tuple[str, ...]
    buttons: tuple[Button, ...]

    def text(self) -> str:
        return "\n".join(self.lines)


def printable(text: str) -> str:
    """Text that cannot move the cursor, change colours or reorder the line."""
    return _UNPRINTABLE.sub("", text)


def mrkdwn_to_text(text: str, names: Names) -> str:
    """mrkdwn as a reader sees it: tokens in words, entities decoded, all in one pass, so an
    escaped ``&lt;!channel&gt;`` stays the literal text ``<!channel>`` and pings nobody."""

    def replace(match: re.Match[str]) -> str:
        if match.group(2):
            return _ENTITIES[match.group(2)]
        return _token(match.group(1), names)

    return printable(_TOKEN_OR_ENTITY.sub(replace, text))


def _token(body: str, names: Names) -> str:
    target, _, label = body.partition("|")
    label = _TOKEN_OR_ENTITY.sub(lambda m: _ENTITIES.get(m.group(2) or "", ""), label)
    if target.startswith("@"):
        return "@" + (label or names(target[1:]))
    if target.startswith("#"):
        return "#" + (label or names(target[1:]))
    if target.startswith("!"):
        word = target[1:].split("^")[0]
        return label or _SPECIAL.get(word, f"@{word}")
    return f"{label} ({target})" if label else target


def text_of(obj: Any, names: Names) -> str:
    """A Block Kit text object (plain_text or mrkdwn) as a reader sees it."""
    if not isinstance(obj, dict):
        return ""
    raw = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_text(raw, names)
    return printable(raw)


class _Writer:
    """Collects the lines and numbered buttons of one screen."""

    def __init__(self, container: Message | View, names: Names, style: Style, first: int) -> None:
        self.container = container
        self.names = names
        self.style = style
        self.next_number = first
        self.lines: list[str] = []
        self.buttons: list[Button] = []

    def text(self, obj: Any) -> str:
        return text_of(obj, self.names)

    def add(self, text: str, indent: str = "") -> None:
        self.lines.extend(indent + line for line in text.splitlines() or [""])

    def element(self, element: Any) -> str:
        """One interactive element, inline: buttons get the next number."""
        if not isinstance(element, dict):
            return ""
        kind = element.get("type")
        if kind == "button":
            label = self.text(element.get("text"))
            number = self.next_number
            self.next_number += 1
            value = element.get("value")
            action_id = str(element.get("action_id", ""))
            confirm = self.confirm(element.get("confirm"))
            self.buttons.append(Button(number, label, action_id, value, self.container, confirm))
            return self.style.accent(f"[{number}] {label}")
        if kind == "image":
            return f"(image: {printable(str(element.get('alt_text', '')))})"
        return f"<{_describe_input(element, self.text)}>"

    def confirm(self, dialog: Any) -> Confirm | None:
        if not isinstance(dialog, dict):
            return None
        # Slack's own labels when the app gives none.
        return Confirm(
            title=self.text(dialog.get("title")) or "Are you sure?",
            text=self.text(dialog.get("text")),
            confirm=self.text(dialog.get("confirm")) or "Yes",
            deny=self.text(dialog.get("deny")) or "Cancel",
        )

    def screen(self) -> Screen:
        return Screen(tuple(self.lines), tuple(self.buttons))


def _describe_input(element: JsonDict, text: Callable[[Any], str]) -> str:
    kind = str(element.get("type", "input")).replace("_", " ")
    options = options_of(element)
    if options:
        chosen = ", ".join(text(option.get("text")) for option in initial_options(element))
        listed = ", ".join(text(option.get("text")) for option in options)
        return f"{kind}" + (f" = {chosen}" if chosen else "") + f": {listed}"
    initial = element.get("initial_value")
    return kind + (f" = {printable(str(initial))}" if initial else "")


def options_of(element: JsonDict) -> list[JsonDict]:
    """A select's or checkboxes' options, groups flattened, in the order Slack lists them."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return [option for option in options if isinstance(option, dict)]


def initial_options(element: JsonDict) -> list[JsonDict]:
    """The options an input starts with selected (one for a select, several for checkboxes)."""
    single = element.get("initial_option")
    chosen = [single] if isinstance(single, dict) else list(element.get("initial_options") or [])
    return [option for option in chosen if isinstance(option, dict)]


# -- blocks ------------------------------------------------------------------------------


def _header(out: _Writer, block: JsonDict, _errors: dict[str, str]) -> None:
    out.add(out.style.bold("# " + out.text(block.get("text"))))


def _section(out: _Writer, block: JsonDict, _errors: dict[str, str]) -> None:
    if block.get("text"):
        out.add(out.text(block["text"]))
    for field in block.get("fields") or []:
        # A field is usually "*Label*\nvalue": one line each reads best in a terminal.
        out.add(" ".join(out.text(field).split("\n")), indent="  - ")
    accessory = out.element(block.get("accessory"))
    if accessory:
        out.add(accessory, indent="  ")


def _context(out: _Writer, block: JsonDict, _errors: dict[str, str]) -> None:
    parts = [
        out.text(element) if element.get("type") != "image" else out.element(element)
        for element in block.get("elements") or []
        if isinstance(element, dict)
    ]
    out.add(out.style.dim("  ".join(parts)), indent="  ~ ")


def _actions(out: _Writer, block: JsonDict, _errors: dict[str, str]) -> None:
    out.add("  ".join(out.element(element) for element in block.get("elements") or []))


def _divider(out: _Writer, _block: JsonDict, _errors: dict[str, str]) -> None:
    out.add(out.style.dim("  " + "- " * 20))


def _image(out: _Writer, block: JsonDict, _errors: dict[str, str]) -> None:
    out.add(out.element({**block, "type": "image"}))


def _input(out: _Writer, block: JsonDict, errors: dict[str, str]) -> None:
    optional = " (optional)" if block.get("optional") else ""
    element = found if isinstance(found := block.get("element"), dict) else {}
    out.add(f"{out.text(block.get('label'))}{optional}: <{_describe_input(element, out.text)}>")
    if block.get("hint"):
        out.add(out.style.dim(out.text(block["hint"])), indent="    ")
    error = errors.get(str(block.get("block_id")))
    if error:
        out.add(out.style.bold("! " + printable(error)), indent="    ")


def _rich_text(out: _Writer, block: JsonDict, _errors: dict[str, str]) -> None:
    out.add(printable("".join(_rich_pieces(block))))


def _rich_pieces(node: Any) -> list[str]:
    if isinstance(node, list):
        return [piece for child in node for piece in _rich_pieces(child)]
    if not isinstance(node, dict):
        return []
    if node.get("type") == "text":
        return [str(node.get("text", ""))]
    return _rich_pieces(node.get("elements"))


_BLOCKS: dict[str, Callable[[_Writer, JsonDict, dict[str, str]], None]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "actions": _actions,
    "divider": _divider,
    "image": _image,
    "input": _input,
    "rich_text": _rich_text,
}


def _blocks(out: _Writer, blocks: list[JsonDict], errors: dict[str, str]) -> None:
    for block in blocks:
        render = _BLOCKS.get(str(block.get("type")))
        if render is None:
            out.add(out.style.dim(f"[a {printable(str(block.get('type')))} block]"))
        else:
            render(out, block, errors)


# -- messages and views ------------------------------------------------------------------


def message_screen(
    message: Message, title: str, names: Names, style: Style, first_number: int = 1
) -> Screen:
    """A message under its title (where it is, who sees it); the fallback text if no blocks."""
    out = _Writer(message, names, style, first_number)
    edited = " (edited)" if message.edited_ts else ""
    out.add(style.dim(f"-- {printable(title)}{edited} ".ljust(len(RULE), "-")))
    if message.blocks:
        _blocks(out, message.blocks, {})
    else:
        out.add(mrkdwn_to_text(message.text, names))
    return out.screen()


def view_screen(view: View, names: Names, style: Style, first_number: int = 1) -> Screen:
    """A modal (with its submit and close labels) or the Home tab."""
    out = _Writer(view, names, style, first_number)
    if view.type == "modal":
        out.add(style.bold(f"== {printable(view.title)} (modal) ".ljust(len(RULE), "=")))
    else:
        out.add(style.bold("== Home tab ".ljust(len(RULE), "=")))
    _blocks(out, view.blocks, view.errors)
    if view.type == "modal":
        # A modal without a submit button can only be closed.
        submit = out.text(view.payload.get("submit"))
        close = out.text(view.payload.get("close")) or "Close"
        actions = [f"[{submit}: type `fill`]"] if submit else []
        out.add(style.dim("  ".join([*actions, f"[{close}: type `close`]"])))
    out.add(style.dim(RULE))
    return out.screen()
