"""What slack_sdk's Block Kit models say of a payload: the app's second opinion in tests.

The renderer fits every text to Block Kit's limits at run time; these models check each payload
the tests see, so that no model check is paid for at every send.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.devtools.emulator.state import Call


def assert_valid_blocks(blocks: Iterable[Any]) -> None:
    """Every block parses as a known Block Kit block and passes its model's validation."""
    for index, block in enumerate(blocks):
        parsed = Block.parse(dict(block)) if isinstance(block, Mapping) else None
        assert parsed is not None, f"block {index} is not a known Block Kit block: {block!r}"
        parsed.to_dict()


def assert_valid_view(view: Mapping[str, Any]) -> None:
    View(**view).to_dict()


def assert_calls_valid(calls: Iterable[Call]) -> None:
    """Every message and view the app sent to Slack, as slack_sdk's models see it."""
    for call in calls:
        blocks = _decoded(call.args.get("blocks"))
        if isinstance(blocks, list):
            assert_valid_blocks(blocks)
        view = _decoded(call.args.get("view"))
        if isinstance(view, Mapping):
            assert_valid_view(view)


def _decoded(value: Any) -> Any:
    # Form-encoded Web API calls carry their JSON arguments as strings.
    return json.loads(value) if isinstance(value, str) else value
