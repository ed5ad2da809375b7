"""Block Kit limits, checked as Slack checks them (pure functions, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.devtools.emulator.blockkit import (
    message_text_too_long,
    validate_message_blocks,
    validate_view,
    view_too_large,
)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(label: str, value: str = "v", action_id: str = "go") -> dict[str, Any]:
    text = {"type": "plain_text", "text": label}
    return {"type": "button", "text": text, "value": value, "action_id": action_id}


def modal(**fields: Any) -> dict[str, Any]:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Lend"}, "blocks": []}
    return {**view, **fields}


def messages(blocks: list[Any]) -> list[str]:
    return [str(v) for v in validate_message_blocks(blocks)]


def test_valid_message_has_no_violations() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Projects"}},
        section("x" * 3000),
        {"type": "actions", "elements": [button("x" * 75, value="v" * 2000)]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        {"type": "divider"},
    ]
    assert validate_message_blocks(blocks * 10) == []


@pytest.mark.parametrize(
    ("blocks", "expected"),
    [
        ([section("x")] * 51, "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"),
        (
            [section("x" * 3001)],
            "[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]",
        ),
        (
            [{"type": "actions", "elements": [button("b" * 76)]}],
            "[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
        ),
        (
            [{"type": "actions", "elements": [button("ok", value="v" * 2001)]}],
            "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]",
        ),
        (
            [{**section("x"), "block_id": "b" * 256}],
            "[ERROR] must be less than 256 characters [json-pointer:/blocks/0/block_id]",
        ),
        (
            [{"type": "actions", "elements": [button("ok", action_id="a" * 256)]}],
            "[ERROR] must be less than 256 characters "
            "[json-pointer:/blocks/0/elements/0/action_id]",
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
            "[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/elements]",
        ),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
            "[ERROR] no more than 10 items allowed [json-pointer:/blocks/0/fields]",
        ),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
            "[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
        ),
        (
            [{"type": "nonsense"}],
            "[ERROR] failed to match all allowed schemas [json-pointer:/blocks/0]",
        ),
    ],
)
def test_message_limits(blocks: list[Any], expected: str) -> None:
    assert messages(blocks) == [expected]


def test_header_must_be_plain_text() -> None:
    header = {"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}
    assert messages([header]) == [
        "[ERROR] must be one of plain_text [json-pointer:/blocks/0/text/type]"
    ]


def test_message_text_limit_is_40000() -> None:
    assert not message_text_too_long("x" * 40_000)
    assert message_text_too_long("x" * 40_001)


def test_view_limits() -> None:
    assert validate_view(modal(blocks=[section("x")] * 100)) == []
    assert [str(v) for v in validate_view(modal(blocks=[section("x")] * 101))] == [
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
    ]
    too_long = {"type": "plain_text", "text": "t" * 25}
    found = {
        v.pointer for v in validate_view(modal(title=too_long, submit=too_long, close=too_long))
    }
    assert found == {"/view/title/text", "/view/submit/text", "/view/close/text"}
    assert [v.pointer for v in validate_view(modal(private_metadata="m" * 3001))] == [
        "/view/private_metadata"
    ]
    assert [v.pointer for v in validate_view(modal(callback_id="c" * 256))] == ["/view/callback_id"]
    assert validate_view(modal(private_metadata="m" * 3000, callback_id="c" * 255)) == []


def test_modal_with_input_needs_submit() -> None:
    field = {
        "type": "input",
        "label": {"type": "plain_text", "text": "Amount"},
        "element": {"type": "number_input", "is_decimal_allowed": False, "action_id": "amount"},
    }
    assert [v.pointer for v in validate_view(modal(blocks=[field]))] == ["/view/submit"]
    submit = {"type": "plain_text", "text": "Lend"}
    assert validate_view(modal(blocks=[field], submit=submit)) == []


def test_view_too_large_past_250_kb() -> None:
    assert not view_too_large(modal(private_metadata="m" * 3000))
    assert view_too_large(modal(blocks=[section("x" * 3000)] * 90))
