"""Only the installed workspace is served: a signed request from anywhere else changes nothing."""

from __future__ import annotations

import logging

import pytest

from bot.devtools.emulator import Tamper
from storage.db.models import ProcessedEvent
from storage.installations.models import Workspace
from storage.lending.models import Lender
from tests.factories import make_project
from tests.harness import Harness

ELSEWHERE = Tamper(team_id="TEVIL")


def nothing_happened(harness: Harness) -> None:
    assert (harness.count(Lender), harness.count(Workspace), harness.count(ProcessedEvent)) == (
        0,
        0,
        0,
    )


def test_a_command_from_a_workspace_that_is_not_installed_changes_nothing(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    make_project(harness.db)
    alice = harness.user("alice")
    with caplog.at_level(logging.WARNING, logger="handlers.guards"):
        delivery = harness.command(alice.id, "browse", tamper=ELSEWHERE)
    assert (delivery.status, delivery.body) == (200, "")
    assert harness.ephemerals(alice.id) == []
    nothing_happened(harness)
    refused = [r.getMessage() for r in caplog.records if r.name == "handlers.guards"]
    assert refused == ["refused a request from TEVIL: microlend is not installed there"]


def test_an_event_from_elsewhere_is_neither_recorded_nor_answered(harness: Harness) -> None:
    alice = harness.user("alice")
    delivery = harness.open_home(alice.id, tamper=ELSEWHERE)
    assert delivery.status == 200
    assert harness.slack.home_view(alice.id) is None
    nothing_happened(harness)


def test_a_person_of_another_organisation_is_told_politely(harness: Harness) -> None:
    lead, outsider = harness.user("lea"), harness.user("olga", team_id="TPARTNER")
    channel = harness.channel("team-andes", [lead.id, outsider.id])
    harness.command(lead.id, "circle create Andes", channel)
    harness.click(outsider.id, "circle_join")
    assert "people from other organisations cannot use it yet" in harness.reply_text(outsider.id)
    assert harness.count(Lender, Lender.slack_user_id == outsider.id) == 0
