"""`/lend privacy` through the real Bolt app: what is kept, why, and whom to ask."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

import tests.harness
from handlers.context import Services
from storage.db.database import Database
from tests.harness import Harness, running_harness

CONTACT = "privacy@example.com"
ADMIN = "U0ADMIN"


@pytest.fixture
def with_contact(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """The harness with MICROLEND_PRIVACY_CONTACT set, as `services_for` passes it."""
    services = functools.partial(Services, privacy_contact=CONTACT, retention_days=30)
    monkeypatch.setattr(tests.harness, "Services", services)
    with running_harness(sqlite_db, admins=frozenset({ADMIN})) as running:
        yield running


def test_privacy_says_what_is_kept_why_and_whom_to_ask(with_contact: Harness) -> None:
    ana = with_contact.user("ana")
    with_contact.command(ana.id, "privacy")
    answer = with_contact.reply_text(ana.id)
    assert "What microlend keeps about you" in answer
    assert "so that messages address you in your language" in answer
    assert "these stay even after an erasure, under a pseudonym" in answer
    assert "forgotten 30 days after it was sent" in answer
    assert f"Ask {CONTACT}" in answer and ADMIN not in answer
    assert "Your available credit is paid out first" in answer


def test_without_a_contact_the_operators_are_named(sqlite_db: Database) -> None:
    with running_harness(sqlite_db, admins=frozenset({ADMIN})) as harness:
        ana = harness.user("ana")
        harness.command(ana.id, "privacy")
        answer = harness.reply_text(ana.id)
    assert f"Ask <@{ADMIN}>" in answer and "400 days" in answer


def test_without_contact_or_operators_the_operators_are_asked_in_words(harness: Harness) -> None:
    ana = harness.user("ana")
    harness.command(ana.id, "privacy")
    assert "Ask the programme's operators" in harness.reply_text(ana.id)


def test_help_lists_privacy(harness: Harness) -> None:
    ana = harness.user("ana")
    harness.command(ana.id, "help")
    assert "`/lend privacy`: what is kept about you" in harness.reply_text(ana.id)
