"""`app.yaml` is valid against Slack's schema and lists exactly what the code uses.

Commands and events come from the listeners `bot.runtime.app.create_app` registers; scopes from the
Web API methods called in `handlers/` and `bot/` (the emulator excepted), mapped with a table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App

from bot.devtools.emulator import Emulator, EmulatorConfig
from bot.runtime.app import create_app
from bot.runtime.installations import BOT_SCOPES, REDIRECT_PATH
from bot.runtime.settings import Settings
from handlers.context import Services
from storage.db.database import Database
from storage.lending.rules import LendingRules

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
# Slack's published manifest schema (MIT, licence beside it), kept with the tests.
SCHEMA = ROOT / "tests" / "fixtures" / "slack" / "manifest.schema.1.0.0.json"

# The bot scopes each Web API method needs (https://api.slack.com/methods). A method missing
# here fails the test: add it with its scopes rather than guessing.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "auth.test": frozenset(),
    "chat.postMessage": frozenset({"chat:write"}),
    "chat.postEphemeral": frozenset({"chat:write"}),
    "chat.update": frozenset({"chat:write"}),
    "chat.delete": frozenset({"chat:write"}),
    "conversations.open": frozenset({"im:write"}),
    "conversations.info": frozenset({"channels:read", "groups:read", "im:read"}),
    "conversations.members": frozenset({"channels:read", "groups:read"}),
    "users.info": frozenset({"users:read"}),
    "users.list": frozenset({"users:read"}),
    "views.open": frozenset(),
    "views.push": frozenset(),
    "views.update": frozenset(),
    "views.publish": frozenset(),
}
# Bot events need these scopes to be delivered; circles live in public or private channels.
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "app_home_opened": frozenset(),
    "app_uninstalled": frozenset(),
    "tokens_revoked": frozenset(),
    # https://api.slack.com/events/user_change and /events/team_join: users:read.
    "user_change": frozenset({"users:read"}),
    "team_join": frozenset({"users:read"}),
    "member_joined_channel": frozenset({"channels:read", "groups:read"}),
}

# `client.chat_postMessage(` and `_call("conversations.open"` / `api_call("users.info"`.
SDK_CALL = re.compile(r"\bclient\.([a-z]+)_([A-Za-z]+)\(")
NAMED_CALL = re.compile(r"(?:_call|api_call)\(\s*\"([a-z]+\.[A-Za-z.]+)\"")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "app.yaml").read_text(encoding="utf-8"))
    return loaded


def test_the_manifest_is_valid_against_slacks_schema(manifest: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(manifest, schema)


@pytest.fixture
def registered(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """The commands and events `create_app` registers listeners for."""
    found: dict[str, set[str]] = {"command": set(), "event": set()}
    for kind in found:
        original = getattr(App, kind)
        monkeypatch.setattr(App, kind, _recording(original, found[kind]))
    with Emulator(EmulatorConfig()) as slack:
        settings = Settings(
            database_url=str(sqlite_db.engine.url),
            slack_bot_token=slack.bot_token,
            slack_signing_secret=slack.signing_secret,
            slack_api_url=slack.base_url,
        )
        create_app(settings, Services(db=sqlite_db, rules=LendingRules()))
    return found


def _recording(original: Callable[..., Any], seen: set[str]) -> Callable[..., Any]:
    def record(self: App, name: Any, *args: Any, **kwargs: Any) -> Any:
        seen.add(name if isinstance(name, str) else json.dumps(name, sort_keys=True))
        return original(self, name, *args, **kwargs)

    return record


def test_commands_match_the_listeners(
    manifest: dict[str, Any], registered: dict[str, set[str]]
) -> None:
    commands = {item["command"] for item in manifest["features"]["slash_commands"]}
    assert commands == registered["command"]
    for item in manifest["features"]["slash_commands"]:
        assert item["usage_hint"] and item["url"].endswith("/slack/events")


def test_events_match_the_listeners(
    manifest: dict[str, Any], registered: dict[str, set[str]]
) -> None:
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == registered["event"]


def web_api_methods() -> set[str]:
    sources = [*(ROOT / "handlers").rglob("*.py"), *(ROOT / "bot").rglob("*.py")]
    methods: set[str] = set()
    for path in sources:
        if "emulator" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        methods |= {f"{family}.{name}" for family, name in SDK_CALL.findall(text)}
        methods |= set(NAMED_CALL.findall(text))
    return methods


def test_scopes_are_exactly_those_the_code_needs(
    manifest: dict[str, Any], registered: dict[str, set[str]]
) -> None:
    methods = web_api_methods()
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add these Web API methods to METHOD_SCOPES: {sorted(unknown)}"
    needed = {"commands"} if registered["command"] else set()
    for method in methods:
        needed |= METHOD_SCOPES[method]
    for event in registered["event"]:
        needed |= EVENT_SCOPES[event]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed
    # What an OAuth install asks for is what the manifest declares.
    assert set(BOT_SCOPES) == needed


def test_the_oauth_redirect_is_bolts(manifest: dict[str, Any]) -> None:
    assert manifest["oauth_config"]["redirect_urls"] == [f"https://YOUR-HOST{REDIRECT_PATH}"]


def test_the_app_is_reachable_every_way(manifest: dict[str, Any]) -> None:
    features, settings = manifest["features"], manifest["settings"]
    assert features["app_home"]["home_tab_enabled"] and features["app_home"]["messages_tab_enabled"]
    assert features["bot_user"]["display_name"]
    assert settings["interactivity"]["is_enabled"] and settings["socket_mode_enabled"]
    urls: Iterator[str] = (
        settings[key]["request_url"] for key in ("event_subscriptions", "interactivity")
    )
    assert all(url == "https://YOUR-HOST/slack/events" for url in urls)
