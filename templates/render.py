"""The one function that renders every Slack message, modal and Home view safely.

A template is a Jinja2 file that produces Block Kit JSON. The renderer, not the template,
makes every `{{ expression }}` safe:

1. `finalize` escapes the value for mrkdwn (`&`, `<`, `>`) and encodes it as the inside of a
   JSON string, so hostile text can neither ping `<!channel>`, mention, forge a link, nor
   break out of its JSON string. `Trusted` values (from `mention`, `link`) skip the mrkdwn
   escaping only. Numbers and booleans print as JSON literals.
2. The output is parsed; mrkdwn escaping is undone where Slack does not parse mrkdwn
   (`plain_text` objects, ids, values, URLs; see `_LITERAL_KEYS`).
3. Texts are fitted to Block Kit limits, block counts capped (`templates.blockkit_limits`).

slack_sdk's models check every payload in the tests (`tests/slack_models.py`), not at run
time: at about 2 ms a message they were a third of a fan-out's work and of an ack's neighbours'.

Template authors write literal template text as mrkdwn: `&amp;` in a template's own text is an
ampersand everywhere. Macros, `{% set %}` blocks and `{% call %}` bodies return text that is
already safe and is inserted as is; passing it through a filter makes it a plain string that is
escaped again (visible `&amp;`, never unsafe).

    {
      "type": "section",
      "text": {"type": "mrkdwn", "text": "*{{ project.name }}* by {{ owner_id|mention }}"},
      "accessory": {
        "type": "button", "action_id": "lend",
        "text": {"type": "plain_text", "text": "Lend to {{ project.name }}"},
        "value": "{{ {'project': project.id}|json }}"
      }
    }
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
)

from templates.blockkit_limits import (
    MESSAGE_BLOCK_LIMIT,
    MESSAGE_TEXT_LIMIT,
    NOTIFICATION_TEXT_LIMIT,
    VIEW_BLOCK_LIMIT,
    LimitExceededError,
    cap_blocks,
    fit_tree,
)
from templates.filters import FILTERS
from templates.mrkdwn import (
    Trusted,
    escape_mrkdwn,
    replace_lone_surrogates,
    truncate,
    unescape_mrkdwn,
)

__all__ = [
    "RenderedMessage",
    "Renderer",
    "TemplateRenderError",
    "Trusted",
    "escape_mrkdwn",
    "notification_text",
    "render_message",
    "render_view",
]

# Keys whose string values Slack shows or returns verbatim, never parsing mrkdwn: entities
# there would reach the user (or the handler, for ids and values) as literal `&amp;`.
# Slack's docs say only mrkdwn decodes `&amp;`/`&lt;`/`&gt;`; for `plain_text` Slack escapes
# a raw `&` itself (it comes back as `&amp;` in interaction payloads, slackapi/bolt-python
# #513), so a pre-escaped `&amp;` in a header would show literally instead of "Café & Co".
# `plain_text` is also never parsed for mentions, so unescaping it cannot ping anyone. Any
# key not listed stays escaped: showing `&amp;` is a cosmetic bug, a live `<!channel>` is not.
_LITERAL_KEYS = frozenset(
    {
        "value",
        "url",
        "image_url",
        "alt_text",
        "private_metadata",
        "action_id",
        "block_id",
        "callback_id",
        "external_id",
        "initial_value",
        "accessibility_label",
    }
)
_VIEW_TYPES = ("modal", "home")


class TemplateRenderError(Exception):
    """A template could not be turned into a valid Slack payload; names the template."""

    def __init__(self, template: str, problem: str) -> None:
        super().__init__(f"template {template!r}: {problem}")
        self.template = template


@dataclass(frozen=True)
class RenderedMessage:
    """Arguments for `chat.postMessage`/`respond`: fallback `text` and Block Kit `blocks`."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


class _Rendered(str):
    """Text a template already produced (escaped and JSON-encoded): never encode it twice."""

    __slots__ = ()


def _concat_rendered(parts: Iterable[str]) -> _Rendered:
    return _Rendered("".join(parts))


def _json_string_body(text: str) -> str:
    return json.dumps(replace_lone_surrogates(text), ensure_ascii=False)[1:-1]


def _finalize(value: object) -> str:
    """Turn every `{{ expression }}` result into safe text inside a JSON string."""
    if isinstance(value, _Rendered):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float):
        if isinstance(value, int) or math.isfinite(value):
            return str(value)
        raise ValueError(f"{value} cannot be rendered as JSON")
    text = value if isinstance(value, Trusted) else escape_mrkdwn(str(value))
    return _json_string_body(text)


class _SlackEnvironment(Environment):
    # Jinja joins the output of macros, `{% set %}` blocks and `{% call %}` bodies with
    # `concat`; that output has already been through `_finalize`, so mark it as such.
    concat = staticmethod(_concat_rendered)


def _unescape_literals(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _unescape_literals(item)
        return
    if not isinstance(node, dict):
        return
    is_plain_text = node.get("type") == "plain_text"
    for key, value in node.items():
        if isinstance(value, str):
            if key in _LITERAL_KEYS or (is_plain_text and key == "text"):
                node[key] = unescape_mrkdwn(value)
        else:
            _unescape_literals(value)


def notification_text(text: str, limit: int = NOTIFICATION_TEXT_LIMIT) -> str:
    """Cap a message's fallback `text` (what notifications show) at `limit`, mrkdwn-safe."""
    return truncate(text, limit, mrkdwn=True)


class Renderer:
    """Loads templates from the `templates` package (then `extra_dirs`) and renders them."""

    def __init__(
        self,
        extra_dirs: Sequence[str | Path] = (),
        filters: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        loaders = [PackageLoader("templates", "."), FileSystemLoader([str(d) for d in extra_dirs])]
        self.environment = _SlackEnvironment(
            loader=ChoiceLoader(loaders),
            autoescape=False,  # HTML escaping is wrong for Slack; `_finalize` does our escaping
            finalize=_finalize,
            undefined=StrictUndefined,  # a misspelt variable is a bug, not an empty string
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates ship with the package; checking their files' mtimes at every render
            # costs a stat per template per message during a fan-out.
            auto_reload=False,
        )
        self.environment.filters.update(FILTERS)
        self.environment.filters.update(filters or {})

    def _render_json(self, template: str, context: dict[str, Any]) -> dict[str, Any]:
        try:
            source = self.environment.get_template(template).render(**context)
        except (TemplateError, ValueError, TypeError) as error:
            raise TemplateRenderError(template, f"{type(error).__name__}: {error}") from error
        try:
            payload = json.loads(source)
        except json.JSONDecodeError as error:
            near = source[max(0, error.pos - 40) : error.pos + 40]
            raise TemplateRenderError(template, f"invalid JSON ({error}) near {near!r}") from error
        if not isinstance(payload, dict):
            raise TemplateRenderError(template, "must produce a JSON object")
        _unescape_literals(payload)
        return payload

    def _fit(self, template: str, payload: dict[str, Any], kind: str, block_limit: int) -> None:
        blocks = payload.get("blocks", [])
        if not isinstance(blocks, list):
            raise TemplateRenderError(template, '"blocks" must be a list')
        try:
            payload["blocks"] = cap_blocks(blocks, block_limit)
            fit_tree(payload, kind)
        except LimitExceededError as error:
            raise TemplateRenderError(template, str(error)) from error

    def render_message(self, template: str, /, **context: Any) -> RenderedMessage:
        """Render a message template (`{"text": ..., "blocks": [...]}`)."""
        payload = self._render_json(template, context)
        text = payload.get("text")
        if not isinstance(text, str):
            raise TemplateRenderError(template, 'a message needs a fallback "text" string')
        self._fit(template, payload, "message", MESSAGE_BLOCK_LIMIT)
        return RenderedMessage(
            text=truncate(text, MESSAGE_TEXT_LIMIT, mrkdwn=True), blocks=payload["blocks"]
        )

    def render_view(self, template: str, /, **context: Any) -> dict[str, Any]:
        """Render a modal or Home tab view template (`{"type": "modal"|"home", ...}`)."""
        payload = self._render_json(template, context)
        if payload.get("type") not in _VIEW_TYPES:
            raise TemplateRenderError(template, f'a view\'s "type" must be one of {_VIEW_TYPES}')
        self._fit(template, payload, payload["type"], VIEW_BLOCK_LIMIT)
        return payload


@functools.cache
def _default_renderer() -> Renderer:
    return Renderer()


def render_message(template: str, /, **context: Any) -> RenderedMessage:
    """Render a message template from the `templates` package."""
    return _default_renderer().render_message(template, **context)


def render_view(template: str, /, **context: Any) -> dict[str, Any]:
    """Render a modal or Home view template from the `templates` package."""
    return _default_renderer().render_view(template, **context)
