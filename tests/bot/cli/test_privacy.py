"""`microlend privacy export` and `erase`, end to end against the emulator's workspace."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.devtools.emulator import Emulator
from storage.db.clock import utcnow
from storage.db.database import Database
from storage.lending.lenders import SlackIdentity, find_lender
from storage.notifications.kinds import Kind
from storage.notifications.models import Notification, NotificationStatus
from storage.notifications.outbox import enqueue
from tests.bot.cli.test_cli import TEAM, db, run, slack_team, workdir

__all__ = ["db", "slack_team", "workdir"]


def lend_as_ana(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "grant", "U0ANA", "25", "--reason", "welcome")[0] == 0


def exported(capsys: pytest.CaptureFixture[str], user: str) -> dict[str, Any]:
    code, out, err = run(capsys, "privacy", "export", user)
    assert (code, err) == (0, "")
    document: dict[str, Any] = json.loads(out)
    return document


def test_the_export_is_one_json_document_of_everything_held(
    db: Database, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    lend_as_ana(capsys)
    document = exported(capsys, "U0ANA")
    assert document["profile"]["slack_user_id"] == "U0ANA"
    assert set(document) == {
        "profile",
        "circle_memberships",
        "circles_led",
        "invitations",
        "pledges",
        "ledger_lines",
        "monthly_new_money",
        "payout_requests",
        "notifications",
    }
    assert [line["transaction_kind"] for line in document["ledger_lines"]] == ["grant"]
    assert [n["kind"] for n in document["notifications"]] == ["grant"]


def test_the_export_goes_to_a_file_with_output(
    db: Database, workdir: Path, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    lend_as_ana(capsys)
    code, out, err = run(capsys, "privacy", "export", "U0ANA", "--output", "ana.json")
    assert (code, out) == (0, "")
    assert err == "Wrote what microlend holds about U0ANA to ana.json.\n"
    assert json.loads((workdir / "ana.json").read_text(encoding="utf-8"))["profile"]
    assert not (workdir / "ana.json.partial").exists()


def test_an_erasure_pays_out_and_erasing_again_is_a_no_op(
    db: Database, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    lend_as_ana(capsys)
    code, out, _err = run(capsys, "privacy", "erase", "U0ANA")
    assert code == 0
    assert out.startswith("Erased U0ANA, now UERASED")
    assert "€25.00 of open credit became a payout request (in the next" in out
    assert "; left 0 circles, 0 circles handed on" in out
    pseudonym = out.split("now ", 1)[1].split(" ", 1)[0]
    with db.sessions() as session:
        assert find_lender(session, SlackIdentity("U0ANA", TEAM)) is None
    assert run(capsys, "privacy", "erase", "U0ANA")[:2] == (
        0,
        "microlend holds nothing about U0ANA (never a lender, or erased already): "
        "nothing to erase.\n",
    )
    assert run(capsys, "privacy", "erase", pseudonym)[:2] == (
        0,
        f"{pseudonym} was erased already (as {pseudonym}): nothing to do.\n",
    )
    assert exported(capsys, pseudonym)["payout_requests"] != []
    assert run(capsys, "check")[0] == 0


@pytest.mark.parametrize("gone", ["deactivated", "removed"])
def test_a_person_who_left_slack_is_found_by_their_id_alone(
    db: Database, slack_team: Emulator, capsys: pytest.CaptureFixture[str], gone: str
) -> None:
    lend_as_ana(capsys)
    if gone == "deactivated":
        slack_team.state.users["U0ANA"].deleted = True
    else:
        del slack_team.state.users["U0ANA"]
    assert exported(capsys, "U0ANA")["profile"]
    code, out, _err = run(capsys, "privacy", "erase", "U0ANA")
    assert code == 0 and out.startswith("Erased U0ANA")


def test_someone_nobody_knows_is_an_error_naming_them(
    db: Database, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    for action in ("export", "erase"):
        code, out, err = run(capsys, "privacy", action, "U0NOBODY")
        assert (code, out) == (1, "")
        assert "U0NOBODY: Slack knows no such user in this workspace" in err
        assert "microlend holds nothing about them" in err
    code, _out, err = run(capsys, "privacy", "export", "bob")
    assert code == 1 and "'bob' is not a Slack user id" in err


def test_a_colleague_who_never_lent_has_nothing_to_export(
    db: Database, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, "privacy", "export", "U0BOB")
    assert code == 1 and "microlend holds nothing about U0BOB" in err


def test_privacy_needs_the_bot_token(
    db: Database, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, "privacy", "erase", "U0ANA")
    assert code == 2 and "SLACK_BOT_TOKEN" in err


@pytest.mark.parametrize("command", [["privacy"], ["privacy", "export"], ["privacy", "erase"]])
def test_every_privacy_command_has_help(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, out, _err = run(capsys, *command, "--help")
    assert code == 0 and "usage: microlend privacy" in out


def test_the_purge_job_keeps_messages_for_the_retention_days_set(
    db: Database, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    now = utcnow()
    with db.sessions() as session, session.begin():
        for days, key in ((10, "recent"), (40, "old")):
            enqueue(
                session, dedupe_key=key, kind=Kind.INVITE, payload={"inviter": "U0EVE"}, now=now
            )
            session.execute(
                update(Notification)
                .where(Notification.dedupe_key == key)
                .values(status=NotificationStatus.SENT, sent_at=now - timedelta(days=days))
            )
    monkeypatch.setenv("MICROLEND_RETENTION_DAYS", "30")
    told = "purge-sent-texts: 1 sent notification purged of whom they named\n"
    assert run(capsys, "jobs", "run", "purge-sent-texts")[:2] == (0, told)
    with db.sessions() as session:
        payloads = dict(
            session.execute(select(Notification.dedupe_key, Notification.payload)).all()
        )
    assert payloads == {"recent": {"inviter": "U0EVE"}, "old": {}}
