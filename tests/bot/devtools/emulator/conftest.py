"""Fixtures: a started emulator (rate limits off unless a test turns them on) and people."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from bot.devtools.emulator import Channel, Emulator, User


class FakeClock:
    """A clock tests move by hand (trigger expiry, rate-limit refills)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def client(slack: Emulator) -> WebClient:
    return slack.client()


@pytest.fixture
def alice(slack: Emulator) -> User:
    return slack.add_user("alice", real_name="Alice Martin", tz="Europe/Paris", is_admin=True)


@pytest.fixture
def bob(slack: Emulator) -> User:
    return slack.add_user("bob", tz="America/Lima", tz_offset=-18000, locale="es-LA")


@pytest.fixture
def general(slack: Emulator, alice: User, bob: User) -> Channel:
    return slack.add_channel("general", [alice.id, bob.id, slack.config.bot_user_id])
