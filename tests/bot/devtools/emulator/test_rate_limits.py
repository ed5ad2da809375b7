"""Rate limits: 429 with Retry-After at Slack's levels, scalable, and off when asked."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.devtools.emulator import Emulator, EmulatorConfig, RateLimitConfig
from bot.devtools.emulator.rate_limits import RateLimiter
from tests.bot.devtools.emulator.conftest import FakeClock


def test_post_message_per_channel_burst_then_429_with_retry_after() -> None:
    with Emulator(EmulatorConfig(clock=FakeClock())) as slack:
        channel = slack.add_channel("general", [slack.config.bot_user_id])
        client = slack.client()
        burst = slack.config.rate_limits.post_message_channel_burst
        for _ in range(burst):
            client.chat_postMessage(channel=channel.id, text="ok")
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel=channel.id, text="too fast")
        response = caught.value.response
        assert response.status_code == 429
        assert response["error"] == "ratelimited"
        assert response.headers["Retry-After"] == "1"
        assert len(slack.messages(channel.id)) == burst


def test_post_message_recovers_after_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimitConfig(post_message_channel_burst=1))
    assert limiter.check("chat.postMessage", "T1", "C1", clock()) is None
    assert limiter.check("chat.postMessage", "T1", "C1", clock()) == 1
    # Another channel has its own budget.
    assert limiter.check("chat.postMessage", "T1", "C2", clock()) is None
    clock.advance(1.0)
    assert limiter.check("chat.postMessage", "T1", "C1", clock()) is None


def test_workspace_limit_across_channels_is_configurable() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimitConfig(post_message_workspace_per_minute=60))
    assert limiter.check("chat.postMessage", "T1", "C1", clock()) is None
    retry = limiter.check("chat.postMessage", "T1", "C2", clock())
    assert retry == 1


def test_tier_limits_scale() -> None:
    clock = FakeClock()
    # users.info is Tier 4 (100+/min): at scale 0.1 that is 10/min with 10 s of burst.
    limiter = RateLimiter(RateLimitConfig(scale=0.1))
    granted = sum(limiter.check("users.info", "T1", None, clock()) is None for _ in range(10))
    assert granted == 1
    # The 0.67 token left needs 2 more seconds at 1/6 token per second.
    assert limiter.check("users.info", "T1", None, clock()) == 2


def test_scaled_workspace_limit_allows_bulk_sends() -> None:
    clock = FakeClock()
    config = RateLimitConfig(post_message_workspace_per_minute=20_000)
    limiter = RateLimiter(config)
    channels = [f"C{i}" for i in range(300)]
    assert all(limiter.check("chat.postMessage", "T1", c, clock()) is None for c in channels)


def test_no_429_with_limits_off() -> None:
    with Emulator(EmulatorConfig(rate_limits=RateLimitConfig.off())) as slack:
        channel = slack.add_channel("general", [slack.config.bot_user_id])
        client = slack.client()
        for _ in range(30):
            client.chat_postMessage(channel=channel.id, text="fast")
        assert {c.status for c in slack.calls()} == {200}
        assert len(slack.messages(channel.id)) == 30


def test_users_list_is_tier_2() -> None:
    with Emulator(EmulatorConfig(clock=FakeClock())) as slack:
        client = slack.client()
        # 20/min with 10 s of burst holds 3.33 tokens: the fourth page waits (Tier 4 would not).
        for _ in range(3):
            client.users_list(limit=1)
        with pytest.raises(SlackApiError) as caught:
            client.users_list(limit=1)
        assert caught.value.response.status_code == 429
        assert int(caught.value.response.headers["Retry-After"]) >= 2
