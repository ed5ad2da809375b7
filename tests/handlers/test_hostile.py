"""Hostile text in commands and imported projects never pings, forges links or breaks limits."""

from __future__ import annotations

import pytest

from storage.projects.models import Project
from tests.factories import make_project
from tests.harness import Harness, text_of

HOSTILE = [
    "x" * 5_000,
    "<!channel> <!here> <@U123> <https://evil.example|click>",
    "*bold* _it_ ~s~ `code` 🙂🇵🇪👩🏽‍🌾",
    "مرحبا بالعالم \u202eevil\u202c שלום",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_command_text(harness: Harness, text: str) -> None:
    alice = harness.user("alice")
    for command in (
        text,
        f"browse {text}",
        f"project {text}",
        f"pledge {text} {text}",
        f"withdraw {text}",
        f"autolend on {text}",
    ):
        delivery = harness.command(alice.id, command)
        assert delivery.status == 200
        answer = harness.reply(alice.id)
        shown = text_of(answer, kinds=("mrkdwn",))
        assert "<!channel>" not in shown and "<@U123>" not in shown and "<https://" not in shown
    assert not [c for c in harness.calls() if not c.response.get("ok", True)]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_imported_project_fields(harness: Harness, text: str) -> None:
    project_id = make_project(harness.db)
    with harness.db.sessions() as session, session.begin():
        project = session.get(Project, project_id)
        assert project is not None
        project.borrower = text[:200]
        project.purpose = text
        project.activity = text[:100]
        project.region = text[:200]
        reference = project.reference
    alice = harness.user("alice")
    harness.command(alice.id, "browse")
    harness.command(alice.id, f"project {reference}")
    harness.open_home(alice.id)
    harness.click(alice.id, "lend", within=harness.home(alice.id))
    harness.submit(alice.id, {"amount": "20"})
    for item in (harness.reply(alice.id), harness.home(alice.id), harness.modal(alice.id)):
        shown = text_of(item, kinds=("mrkdwn",))
        assert "<!channel>" not in shown and "<@U123>" not in shown
    assert all(call.response.get("ok") for call in harness.calls() if call.method != "auth.test")
