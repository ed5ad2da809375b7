"""Every Web API method, happy path and Slack's errors, through a real slack_sdk WebClient."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devtools.emulator import Channel, Emulator, EmulatorConfig, RateLimitConfig, User
from tests.bot.devtools.emulator.conftest import FakeClock

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}
HEADER_TEXT = "/blocks/0/text/text"


def modal(title: str = "Lend", **fields: Any) -> dict[str, Any]:
    view = {
        "type": "modal",
        "callback_id": "lend",
        "title": {"type": "plain_text", "text": title},
        "blocks": [SECTION],
    }
    return {**view, **fields}


def slack_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


def error_of(call: Any) -> str:
    return str(slack_error(call).response["error"])


# -- auth ------------------------------------------------------------------------------


def test_auth_test(client: WebClient, slack: Emulator) -> None:
    answer = client.auth_test()
    assert answer["team_id"] == slack.config.team_id
    assert answer["user_id"] == slack.config.bot_user_id
    assert answer["bot_id"] == slack.config.bot_id


def test_token_in_form_field_is_accepted(slack: Emulator) -> None:
    body = f"token={slack.bot_token}".encode()
    request = urllib.request.Request(slack.base_url + "auth.test", data=body)
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["ok"] is True


def test_auth_errors(slack: Emulator) -> None:
    assert error_of(WebClient(base_url=slack.base_url).auth_test) == "not_authed"
    assert error_of(slack.client("xoxb-wrong").auth_test) == "invalid_auth"
    slack.revoke_token(slack.bot_token)
    assert error_of(slack.client().auth_test) == "token_revoked"
    slack.revoke_token(slack.bot_token, "account_inactive")
    assert error_of(slack.client().auth_test) == "account_inactive"


def test_unknown_method(client: WebClient) -> None:
    assert error_of(lambda: client.api_call("chat.dance")) == "unknown_method"


def test_every_call_is_logged(client: WebClient, slack: Emulator, general: Channel) -> None:
    client.chat_postMessage(channel=general.id, text="one")
    (call,) = slack.calls("chat.postMessage")
    assert call.args == {"channel": general.id, "text": "one"}
    assert call.status == 200 and call.response["ok"] is True


# -- chat ------------------------------------------------------------------------------


def test_post_message(client: WebClient, slack: Emulator, general: Channel) -> None:
    answer = client.chat_postMessage(channel=general.id, text="Hi", blocks=[SECTION])
    assert answer["channel"] == general.id
    assert answer["message"]["text"] == "Hi"
    assert answer["message"]["blocks"][0]["block_id"]  # Slack fills block ids in
    (recorded,) = slack.messages(general.id)
    assert recorded.ts == answer["ts"] and recorded.text == "Hi"


def test_post_message_by_channel_name_and_to_a_user(
    client: WebClient, slack: Emulator, general: Channel, alice: User
) -> None:
    assert client.chat_postMessage(channel="#general", text="x")["channel"] == general.id
    dm = client.chat_postMessage(channel=alice.id, text="psst")
    assert dm["channel"].startswith("D")
    assert [m.text for m in slack.dms(alice.id)] == ["psst"]


def test_post_message_blocks_as_form_string(slack: Emulator, general: Channel) -> None:
    form = {"token": slack.bot_token, "channel": general.id, "blocks": json.dumps([SECTION])}
    body = "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in form.items()).encode()
    with urllib.request.urlopen(slack.base_url + "chat.postMessage", data=body) as response:
        assert json.load(response)["ok"] is True
    assert slack.messages(general.id)[0].blocks[0]["text"]["text"] == "Hello"


def test_post_message_errors(client: WebClient, general: Channel) -> None:
    assert error_of(lambda: client.chat_postMessage(channel="C404", text="x")) == (
        "channel_not_found"
    )
    assert error_of(lambda: client.chat_postMessage(channel=general.id)) == "no_text"
    long_text = "x" * 40_001
    assert error_of(lambda: client.chat_postMessage(channel=general.id, text=long_text)) == (
        "msg_too_long"
    )


def test_post_ephemeral(client: WebClient, slack: Emulator, general: Channel, alice: User) -> None:
    answer = client.chat_postEphemeral(channel=general.id, user=alice.id, text="only you")
    (message,) = slack.ephemerals(alice.id)
    assert message.ts == answer["message_ts"] and message.channel == general.id
    assert slack.messages(general.id) == []


def test_post_ephemeral_errors(client: WebClient, slack: Emulator, general: Channel) -> None:
    outsider = slack.add_user("carol")
    post = client.chat_postEphemeral
    assert error_of(lambda: post(channel=general.id, user="U404", text="x")) == "user_not_found"
    assert error_of(lambda: post(channel=general.id, user=outsider.id, text="x")) == (
        "user_not_in_channel"
    )


def test_update(client: WebClient, slack: Emulator, general: Channel) -> None:
    posted = client.chat_postMessage(channel=general.id, text="draft")
    answer = client.chat_update(channel=general.id, ts=posted["ts"], text="final")
    assert answer["ts"] == posted["ts"] and answer["text"] == "final"
    (message,) = slack.messages(general.id)
    assert message.text == "final" and message.edited_ts


def test_update_errors(client: WebClient, general: Channel) -> None:
    assert error_of(lambda: client.chat_update(channel=general.id, ts="1.2", text="x")) == (
        "message_not_found"
    )
    posted = client.chat_postMessage(channel=general.id, text="draft")
    assert error_of(lambda: client.chat_update(channel=general.id, ts=posted["ts"])) == "no_text"


# -- Block Kit limits through the API ----------------------------------------------------


def _button_block(label: str) -> dict[str, Any]:
    element = {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": "a"}
    return {"type": "actions", "elements": [element]}


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([SECTION] * 51, "/blocks"),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            "/blocks/0/text/text",
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "/blocks/0/text/text",
        ),
        ([_button_block("b" * 76)], "/blocks/0/elements/0/text/text"),
    ],
)
def test_message_over_a_limit_is_invalid_blocks(
    client: WebClient, general: Channel, blocks: list[Any], pointer: str
) -> None:
    failure = slack_error(
        lambda: client.chat_postMessage(channel=general.id, text="t", blocks=blocks)
    )
    assert failure.response["error"] == "invalid_blocks"
    (explanation,) = failure.response["response_metadata"]["messages"]
    assert explanation.startswith("[ERROR] ") and explanation.endswith(f"[json-pointer:{pointer}]")


def test_private_metadata_over_3000_is_invalid_arguments(
    client: WebClient, slack: Emulator, alice: User
) -> None:
    trigger = slack.state.issue_trigger(alice.id)
    view = modal(private_metadata="m" * 3001)
    failure = slack_error(lambda: client.views_open(trigger_id=trigger, view=view))
    assert failure.response["error"] == "invalid_arguments"
    assert failure.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
    ]


# -- views -----------------------------------------------------------------------------


def test_views_open_push_update(client: WebClient, slack: Emulator, alice: User) -> None:
    opened = client.views_open(trigger_id=slack.state.issue_trigger(alice.id), view=modal())
    root = opened["view"]
    assert root["id"].startswith("V") and root["hash"] and root["state"] == {"values": {}}
    assert root["root_view_id"] == root["id"]
    pushed = client.views_push(trigger_id=slack.state.issue_trigger(alice.id), view=modal("Two"))
    assert pushed["view"]["previous_view_id"] == root["id"]
    assert [v.title for v in slack.modal_stack(alice.id)] == ["Lend", "Two"]
    updated = client.views_update(view_id=root["id"], hash=root["hash"], view=modal("Renamed"))
    assert updated["view"]["id"] == root["id"] and updated["view"]["hash"] != root["hash"]
    assert [v.title for v in slack.modal_stack(alice.id)] == ["Renamed", "Two"]


def test_views_update_by_external_id(client: WebClient, slack: Emulator, alice: User) -> None:
    client.views_open(trigger_id=slack.state.issue_trigger(alice.id), view=modal(external_id="x1"))
    client.views_update(external_id="x1", view=modal("New", external_id="x1"))
    assert slack.modal_stack(alice.id)[0].title == "New"


def test_views_errors(client: WebClient, slack: Emulator, alice: User) -> None:
    assert error_of(lambda: client.views_open(trigger_id="1.2.abc", view=modal())) == (
        "invalid_trigger_id"
    )
    trigger = slack.state.issue_trigger(alice.id)
    client.views_open(trigger_id=trigger, view=modal())
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=modal())) == (
        "exchanged_trigger_id"
    )
    assert error_of(lambda: client.views_update(view_id="V404", view=modal())) == "not_found"
    view_id = slack.modal_stack(alice.id)[0].id
    assert error_of(lambda: client.views_update(view_id=view_id, hash="1.x", view=modal())) == (
        "hash_conflict"
    )
    fresh = slack.state.issue_trigger(alice.id)
    bad_title = modal("t" * 25)
    assert error_of(lambda: client.views_open(trigger_id=fresh, view=bad_title)) == (
        "invalid_arguments"
    )
    huge = modal(blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}] * 90)
    assert error_of(lambda: client.views_open(trigger_id=fresh, view=huge)) == "view_too_large"


def test_push_limit_is_three(client: WebClient, slack: Emulator, alice: User) -> None:
    client.views_open(trigger_id=slack.state.issue_trigger(alice.id), view=modal())
    for _ in range(2):
        client.views_push(trigger_id=slack.state.issue_trigger(alice.id), view=modal())
    fourth = slack.state.issue_trigger(alice.id)
    assert error_of(lambda: client.views_push(trigger_id=fourth, view=modal())) == (
        "push_limit_reached"
    )


def test_trigger_expires_after_three_seconds(alice: User) -> None:
    clock = FakeClock()
    config = EmulatorConfig(rate_limits=RateLimitConfig.off(), clock=clock, users=[alice])
    with Emulator(config) as slack:
        trigger = slack.state.issue_trigger(alice.id)
        clock.advance(3.5)
        call = lambda: slack.client().views_open(trigger_id=trigger, view=modal())  # noqa: E731
        assert error_of(call) == "expired_trigger_id"


def test_views_publish(client: WebClient, slack: Emulator, alice: User) -> None:
    home = {"type": "home", "blocks": [SECTION]}
    first = client.views_publish(user_id=alice.id, view=home)["view"]
    second = client.views_publish(user_id=alice.id, view=home, hash=first["hash"])["view"]
    assert second["id"] == first["id"] and second["hash"] != first["hash"]
    assert slack.home_view(alice.id).blocks[0]["text"]["text"] == "Hello"  # type: ignore[union-attr]
    publish = client.views_publish
    assert error_of(lambda: publish(user_id="U404", view=home)) == "user_not_found"
    assert error_of(lambda: publish(user_id=alice.id, view=home, hash="0.stale")) == (
        "hash_conflict"
    )
    assert error_of(lambda: publish(user_id=alice.id, view=modal())) == "invalid_arguments"


# -- conversations and users -----------------------------------------------------------


def test_conversations_open_is_stable_per_user(client: WebClient, alice: User) -> None:
    first = client.conversations_open(users=alice.id)
    again = client.conversations_open(users=alice.id)
    assert first["channel"]["id"] == again["channel"]["id"]
    assert first["already_open"] is False and again["already_open"] is True
    assert error_of(lambda: client.conversations_open(users="U404")) == "user_not_found"
    # slack_sdk refuses to send this call itself, so go around its helper.
    assert error_of(lambda: client.api_call("conversations.open")) == "users_list_not_supplied"


def test_conversations_info(client: WebClient, general: Channel, alice: User) -> None:
    info = client.conversations_info(channel=general.id, include_num_members=True)["channel"]
    assert info["name"] == "general" and info["is_channel"] and info["num_members"] == 3
    dm_id = client.conversations_open(users=alice.id)["channel"]["id"]
    dm = client.conversations_info(channel=dm_id)["channel"]
    assert dm["is_im"] is True and dm["user"] == alice.id
    assert error_of(lambda: client.conversations_info(channel="C404")) == "channel_not_found"


def test_conversations_members_paginates(client: WebClient, general: Channel) -> None:
    members: list[str] = []
    cursor = ""
    while True:
        page = client.conversations_members(channel=general.id, limit=2, cursor=cursor)
        members += page["members"]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert members == general.members
    assert error_of(lambda: client.conversations_members(channel="C404")) == "channel_not_found"
    bad = lambda: client.conversations_members(channel=general.id, cursor="nope")  # noqa: E731
    assert error_of(bad) == "invalid_cursor"


def test_users_info(client: WebClient, alice: User, bob: User) -> None:
    user = client.users_info(user=bob.id, include_locale=True)["user"]
    assert (user["tz"], user["tz_offset"], user["locale"]) == ("America/Lima", -18000, "es-LA")
    assert client.users_info(user=alice.id)["user"]["is_admin"] is True
    assert error_of(lambda: client.users_info(user="U404")) == "user_not_found"


def test_users_list_paginates_with_slack_shaped_members(
    client: WebClient, slack: Emulator, alice: User, bob: User
) -> None:
    gone = slack.add_user("gone", deleted=True)
    members: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = client.users_list(limit=2, cursor=cursor)
        assert len(page["members"]) <= 2
        members += page["members"]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert [m["id"] for m in members] == [slack.config.bot_user_id, alice.id, bob.id, gone.id]
    by_id = {m["id"]: m for m in members}
    assert (by_id[bob.id]["tz"], by_id[bob.id]["tz_offset"]) == ("America/Lima", -18000)
    assert by_id[alice.id]["real_name"] == "Alice Martin"
    assert by_id[alice.id]["profile"]["display_name"] == "alice"
    assert by_id[slack.config.bot_user_id]["is_bot"] is True
    assert by_id[gone.id]["deleted"] is True
    # No limit: the whole directory at once, as Slack answers.
    assert len(client.users_list()["members"]) == 4


def test_users_list_errors(client: WebClient, slack: Emulator) -> None:
    assert error_of(lambda: client.users_list(cursor="nope")) == "invalid_cursor"
    assert error_of(WebClient(base_url=slack.base_url).users_list) == "not_authed"
    assert error_of(slack.client("xoxb-wrong").users_list) == "invalid_auth"
    slack.revoke_token(slack.bot_token)
    assert error_of(client.users_list) == "token_revoked"


def test_seed_from_json(tmp_path: Any) -> None:
    seed = {
        "team_id": "T123",
        "enterprise_id": "E1",
        "users": [{"id": "U1", "name": "ana", "tz": "Asia/Dushanbe", "tz_offset": 18000}],
        "channels": [{"id": "C1", "name": "lending", "members": ["U1"]}],
        "rate_limits": {"enabled": False, "tier_per_minute": {"1": 1, "2": 20, "3": 50, "4": 100}},
    }
    path = tmp_path / "workspace.json"
    path.write_text(json.dumps(seed))
    with Emulator(EmulatorConfig.from_json(path)) as slack:
        client = slack.client()
        assert client.auth_test()["enterprise_id"] == "E1"
        assert client.users_info(user="U1")["user"]["tz"] == "Asia/Dushanbe"
        assert client.conversations_members(channel="C1")["members"] == ["U1"]


# -- response_url ----------------------------------------------------------------------


def _respond(url: str, body: dict[str, Any]) -> int:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return int(response.status)


def test_response_url_posts_ephemeral_in_channel_and_deletes(
    slack: Emulator, client: WebClient, general: Channel, alice: User
) -> None:
    original = slack.state.find_message(
        general.id, client.chat_postMessage(channel=general.id, text="vote")["ts"]
    )
    target = slack.state.issue_response_target(general.id, alice.id, original)
    url = f"{slack.url}/actions/{target.id}"
    assert _respond(url, {"text": "only alice"}) == 200
    assert [m.text for m in slack.ephemerals(alice.id)] == ["only alice"]
    _respond(url, {"text": "everyone", "response_type": "in_channel"})
    assert [m.text for m in slack.messages(general.id)] == ["vote", "everyone"]
    _respond(url, {"delete_original": True})
    assert [m.text for m in slack.messages(general.id)] == ["everyone"]
    assert [c.method for c in slack.calls()][-3:] == ["response_url"] * 3


def test_conversations_create_names_as_slack_allows(client: WebClient, general: Channel) -> None:
    created = client.conversations_create(name="night-owls_2")
    channel = created["channel"]
    assert channel["name"] == "night-owls_2" and channel["is_member"] is True
    assert channel["creator"] == "U0BOT" and channel["id"].startswith("C")
    refused = {
        "": "invalid_name_required",
        "x" * 81: "invalid_name_maxlength",
        "Night.Owls": "invalid_name_specials",
        "--": "invalid_name_punctuation",
        "general": "name_taken",
    }
    for name, error in refused.items():
        with pytest.raises(SlackApiError) as failure:
            client.conversations_create(name=name)
        assert failure.value.response["error"] == error, name


def test_conversations_invite_adds_everyone_or_nobody(
    client: WebClient, slack: Emulator, alice: User, bob: User
) -> None:
    channel = client.conversations_create(name="lenders")["channel"]["id"]
    with pytest.raises(SlackApiError) as failure:
        client.conversations_invite(channel=channel, users=f"{alice.id},U0NOBODY")
    assert failure.value.response["error"] == "user_not_found"
    assert slack.state.channels[channel].members == ["U0BOT"]
    client.conversations_invite(channel=channel, users=f"{alice.id},{bob.id}")
    assert slack.state.channels[channel].members == ["U0BOT", alice.id, bob.id]
    with pytest.raises(SlackApiError) as failure:
        client.conversations_invite(channel=channel, users=bob.id)
    assert failure.value.response["error"] == "already_in_channel"
    outside = slack.add_channel("elsewhere", [alice.id])
    with pytest.raises(SlackApiError) as failure:
        client.conversations_invite(channel=outside.id, users=bob.id)
    assert failure.value.response["error"] == "not_in_channel"
