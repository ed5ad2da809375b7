"""The app's HTTP side through the emulator: signatures, health check, usage."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from bot.devtools.emulator import Tamper
from storage.db.models import ProcessedEvent
from storage.lending.models import Lender
from tests.harness import Harness


def test_help_answers_with_usage_only_to_the_caller(harness: Harness) -> None:
    alice = harness.user("alice")
    delivery = harness.command(alice.id, "help")
    assert delivery.status == 200
    assert delivery.body == ""  # the ack carries nothing; the answer comes after it
    text = harness.reply_text(alice.id)
    assert "/lend browse" in text and "/lend pledge REF AMOUNT" in text
    assert harness.reply(alice.id).source == "response_url"


@pytest.mark.parametrize("text", ["", "frobnicate", "FROBNICATE now", "<!channel>"])
def test_unknown_input_answers_with_usage(harness: Harness, text: str) -> None:
    alice = harness.user("alice")
    harness.command(alice.id, text)
    answer = harness.reply_text(alice.id)
    assert "/lend browse" in answer
    assert "<!channel>" not in answer


@pytest.mark.parametrize(
    "tamper", [Tamper(forge_signature=True), Tamper(stale_by_seconds=5 * 60 + 30)]
)
def test_forged_or_stale_requests_are_refused_and_change_nothing(
    harness: Harness, tamper: Tamper
) -> None:
    alice = harness.user("alice")
    command = harness.command(alice.id, "portfolio", tamper=tamper)
    event = harness.open_home(alice.id, tamper=tamper)
    assert (command.status, event.status) == (401, 401)
    assert [call.method for call in harness.calls()] == ["auth.test"]  # Bolt's start-up check
    assert harness.ephemerals(alice.id) == []
    assert harness.count(Lender) == 0
    assert harness.count(ProcessedEvent) == 0


def test_health_check_asks_the_database(harness: Harness) -> None:
    url = harness.app_url.replace("/slack/events", "/healthz")
    with urllib.request.urlopen(url, timeout=5) as response:
        assert (response.status, response.read()) == (200, b"ok")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url.replace("/healthz", "/nope"), timeout=5)
    assert missing.value.code == 404
