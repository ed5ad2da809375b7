"""The app's HTTP side through the emulator: signatures, health check, usage."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

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


MALFORMED = [
    ("application/x-www-form-urlencoded", b"payload=%7Bnot"),
    ("application/x-www-form-urlencoded", b"payload=\xff"),
    ("application/x-www-form-urlencoded", b"payload=%5B1%2C2%5D"),
    ("application/json", b"[1, 2]"),
    ("application/json", b"{not json"),
]


def post_raw(harness: Harness, content_type: str, body: bytes, *, signed: bool) -> int:
    headers = {"Content-Type": content_type}
    if signed:
        # Signed as Slack signs, over the raw bytes (slack_sdk's signer decodes them first).
        timestamp = str(int(time.time()))
        message = f"v0:{timestamp}:".encode() + body
        digest = hmac.new(harness.slack.signing_secret.encode(), message, hashlib.sha256)
        headers |= {
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={digest.hexdigest()}",
        }
    url = urlsplit(harness.app_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request("POST", url.path, body, headers)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize(("content_type", "body"), MALFORMED)
def test_malformed_bodies_are_refused_before_anything_parses_them(
    harness: Harness, caplog: pytest.LogCaptureFixture, content_type: str, body: bytes
) -> None:
    with caplog.at_level(logging.DEBUG):
        unsigned = post_raw(harness, content_type, body, signed=False)
        signed = post_raw(harness, content_type, body, signed=True)
    assert (unsigned, signed) == (401, 400)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    assert harness.count(Lender) == 0
