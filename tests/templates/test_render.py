"""The renderer as a specification: hostile text in, valid and inert Slack payloads out."""

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from templates.blockkit_limits import BLANK_TEXT
from templates.mrkdwn import ELLIPSIS, Trusted, clean_text, slack_length
from templates.render import (
    RenderedMessage,
    Renderer,
    TemplateRenderError,
    escape_mrkdwn,
    notification_text,
    render_message,
)
from tests.slack_models import assert_valid_blocks, assert_valid_view

FIXTURES = Path(__file__).parent / "fixtures"
OWNER = "U0OWNER"
PROJECT_URL = "https://kiva.example/p/1?x=1&y=2"

HOSTILE = [
    "N" * 5000,
    "<!channel>",
    "<!here> please",
    "<@U123>",
    "<https://evil.example|click>",
    "*bold* _it_ ~s~ `code` > quote",
    '"quotes" \\ backslashes \\" \\u0000',
    "line\nbreak\r\nand\ttab",
    "👩‍👩‍👧‍👦 family 🇵🇪 flag 👍🏿" * 300,
    "قرض صغير لمتجر",
    "שלום \u202eevil\u202c עולם",
    "nul\x00 bell\x07 esc\x1b del\x7f",
    "lone \ud800 surrogate",
    "&amp; &lt; already escaped",
    "Café & Co",
    '}]}, {"type": "section"',
    "{{ 7 * 7 }} {% raw %}",
    "",
]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(extra_dirs=[FIXTURES])


def render_hostile(renderer: Renderer, name: str) -> RenderedMessage:
    return renderer.render_message(
        "hostile_message.json.j2",
        name=name,
        story=name,
        owner_id=OWNER,
        project_id=7,
        funded=2_000,
        amount=5_000,
        url=PROJECT_URL,
        lenders=3,
    )


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def mrkdwn_strings(message: RenderedMessage) -> list[str]:
    """Every string Slack parses as mrkdwn (and so for mentions and links)."""
    texts = [node["text"] for node in walk(message.blocks) if node.get("type") == "mrkdwn"]
    return [message.text, *texts]


def assert_inert(text: str) -> None:
    """No `<...>` token except the ones our own code built; no broken entity."""
    for token in re.findall(r"<[^>]*>?", text):
        assert token == f"<@{OWNER}>" or token.startswith("<https://kiva.example/p/1?"), token
    assert "&" not in re.sub("&(amp|lt|gt);", "", text), text


def assert_valid_message(message: RenderedMessage) -> None:
    assert len(message.blocks) <= 50
    assert slack_length(message.text) <= 40_000
    assert_valid_blocks(message.blocks)
    json.dumps(message.to_dict(), ensure_ascii=False).encode("utf-8")  # no lone surrogate


def assert_limits(message: RenderedMessage) -> None:
    header, section, fields, context, actions = message.blocks
    assert slack_length(header["text"]["text"]) <= 150
    assert slack_length(section["text"]["text"]) <= 3000
    assert slack_length(section["accessory"]["text"]["text"]) <= 75
    assert all(slack_length(f["text"]) <= 2000 for f in fields["fields"])
    assert all(slack_length(e["text"]) <= 2000 for e in context["elements"])
    select = actions["elements"][0]
    assert slack_length(select["placeholder"]["text"]) <= 150
    assert all(slack_length(o["text"]["text"]) <= 75 for o in select["options"])


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_render_valid_inert_messages(renderer: Renderer, name: str) -> None:
    message = render_hostile(renderer, name)
    assert_valid_message(message)
    assert_limits(message)
    for text in mrkdwn_strings(message):
        assert_inert(text)


def test_mentions_and_links_come_only_from_trusted_filters(renderer: Renderer) -> None:
    message = render_hostile(renderer, "<!channel> <@U123> <https://evil.example|click>")
    section_text = message.blocks[1]["text"]["text"]
    assert section_text.startswith("*&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|")
    assert f"posted by <@{OWNER}>" in section_text
    link = message.blocks[3]["elements"][0]["text"]
    assert link.startswith("<https://kiva.example/p/1?x=1&amp;y=2|&lt;!channel&gt;")


def test_plain_text_shows_characters_not_entities(renderer: Renderer) -> None:
    message = render_hostile(renderer, "Café & Co <3")
    assert message.blocks[0]["text"]["text"] == "Café & Co <3"
    assert message.blocks[1]["accessory"]["text"]["text"] == "Lend to Café & Co <3"
    assert message.blocks[1]["text"]["text"].startswith("*Café &amp; Co &lt;3*")
    assert message.text == "New project: Café &amp; Co &lt;3"


def test_blank_text_shows_a_dash_instead_of_failing(renderer: Renderer) -> None:
    message = render_hostile(renderer, " \x00\u202e ")
    assert message.blocks[0]["text"]["text"] == BLANK_TEXT


def test_long_name_is_truncated_with_ellipsis(renderer: Renderer) -> None:
    message = render_hostile(renderer, "N" * 5000)
    header = message.blocks[0]["text"]["text"]
    assert header == "N" * 149 + ELLIPSIS


@pytest.mark.parametrize("name", [h for h in HOSTILE if len(h) < 100])
def test_json_filter_round_trips_exactly(renderer: Renderer, name: str) -> None:
    meta = {"project": 7, "name": name}
    view = renderer.render_view("metadata.json.j2", meta=meta)
    assert json.loads(view["private_metadata"]) == meta
    assert json.loads(view["blocks"][0]["elements"][0]["value"]) == meta


def test_oversized_private_metadata_is_an_error(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match=r"metadata\.json\.j2.*value is"):
        renderer.render_view("metadata.json.j2", meta="x" * 2500)
    with pytest.raises(TemplateRenderError, match=r"private_metadata is"):
        renderer.render_view("metadata.json.j2", meta=["x" * 500] * 6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.one_of(
        st.text(),
        st.text(alphabet=st.sampled_from('&<>!@|*"\\\n\x00a😀\u200d\u0301\u202e🇵'), max_size=6000),
    )
)
def test_any_text_renders_valid_inert_message(name: str) -> None:
    message = render_hostile(Renderer(extra_dirs=[FIXTURES]), name)
    assert_valid_message(message)
    assert_limits(message)
    for text in mrkdwn_strings(message):
        assert_inert(text)


@settings(max_examples=75, deadline=None)
@given(name=st.text())
@example(name="\x00 \n")
def test_any_text_renders_valid_modal(name: str) -> None:
    view = Renderer(extra_dirs=[FIXTURES]).render_view(
        "hostile_modal.json.j2", name=name, project_id=3
    )
    assert_valid_view(view)
    assert slack_length(view["title"]["text"]) <= 24
    assert slack_length(view["submit"]["text"]) <= 24
    assert json.loads(view["private_metadata"]) == {"project": 3}
    # initial_value is user input shown back as given, only cleaned
    assert view["blocks"][1]["element"]["initial_value"] == clean_text(name)


def test_block_count_safety_net_for_messages(
    renderer: Renderer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        message = renderer.render_message("many_items.json.j2", items=range(200))
    assert len(message.blocks) == 50
    assert message.blocks[48]["text"]["text"] == "48"
    assert message.blocks[49]["elements"][0]["text"] == "…and 151 more not shown"
    assert "not shown" in caplog.text


def test_block_count_safety_net_for_views(renderer: Renderer) -> None:
    view = renderer.render_view("many_items_home.json.j2", items=range(200))
    assert len(view["blocks"]) == 100
    assert view["blocks"][-1]["elements"][0]["text"] == "…and 101 more not shown"


def test_exactly_the_limit_is_kept(renderer: Renderer) -> None:
    message = renderer.render_message("many_items.json.j2", items=range(50))
    assert len(message.blocks) == 50
    assert message.blocks[-1]["text"]["text"] == "49"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, "7"), (-3, "-3"), (True, "true"), (False, "false"), (2.5, "2.5"), (None, "")],
)
def test_scalars_render_as_json_safe_text(renderer: Renderer, value: object, expected: str) -> None:
    assert renderer.render_message("value.json.j2", value=value, id="a").text == expected


def test_nan_is_refused(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match=r"value\.json\.j2"):
        renderer.render_message("value.json.j2", value=float("nan"), id="a")


def test_trusted_is_not_mrkdwn_escaped_but_still_json_encoded(renderer: Renderer) -> None:
    message = renderer.render_message("value.json.j2", value=Trusted('<@U1> "x"'), id="a")
    assert message.text == '<@U1> "x"'


def test_identifiers_are_never_truncated(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match=r"value\.json\.j2.*value is 2001"):
        renderer.render_message("value.json.j2", value="ok", id="v" * 2001)


def test_identifier_at_limit_is_fine(renderer: Renderer) -> None:
    message = renderer.render_message("value.json.j2", value="ok", id="v" * 2000)
    assert message.blocks[0]["accessory"]["value"] == "v" * 2000


def test_long_block_id_is_an_error(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match=r"block_id"):
        render_hostile_with_project_id(renderer, "x" * 300)


def render_hostile_with_project_id(renderer: Renderer, project_id: str) -> None:
    renderer.render_message(
        "hostile_message.json.j2",
        name="n",
        story="s",
        owner_id=OWNER,
        project_id=project_id,
        funded=0,
        amount=1,
        url=PROJECT_URL,
        lenders=0,
    )


def test_missing_variable_is_an_error_naming_the_template(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match=r"value\.json\.j2.*'id' is undefined"):
        renderer.render_message("value.json.j2", value="x")


def test_invalid_json_is_an_error_naming_the_template(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match=r"bad_json\.json\.j2.*invalid JSON"):
        renderer.render_message("bad_json.json.j2")


def test_invalid_mention_is_an_error(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match=r"not a Slack user id"):
        renderer.render_message(
            "hostile_message.json.j2",
            name="n",
            story="s",
            owner_id="<!channel>",
            project_id=1,
            funded=0,
            amount=1,
            url=PROJECT_URL,
            lenders=0,
        )


def test_view_type_is_checked(renderer: Renderer) -> None:
    with pytest.raises(TemplateRenderError, match=r"must be one of"):
        renderer.render_view("value.json.j2", value="x", id="a")


def test_unknown_template_is_an_error() -> None:
    with pytest.raises(TemplateRenderError, match=r"no_such\.json\.j2"):
        render_message("no_such.json.j2")


def test_escape_mrkdwn_is_exported() -> None:
    assert escape_mrkdwn("<!here>") == "&lt;!here&gt;"


def test_notification_text_is_capped_mrkdwn_safely() -> None:
    text = escape_mrkdwn("&" * 5000)
    capped = notification_text(text)
    assert slack_length(capped) <= 3000
    assert capped.endswith("&amp;" + ELLIPSIS)
