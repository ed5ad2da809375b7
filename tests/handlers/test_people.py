"""Knowing every lender (issue 13), through the emulator with signed requests: first contact
(users.info after the ack) and ``user_change`` / ``team_join`` keeping them current."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.devtools.emulator import web_api
from bot.devtools.emulator.rate_limits import RateLimiter
from bot.devtools.emulator.state import SlackError
from storage.db.clock import utcnow
from storage.lending.models import Lender, PendingLookup
from storage.lending.rules import LendingRules
from storage.projects.models import Project
from storage.repayments.recording import RepaymentInput, record_repayment
from tests.factories import make_project
from tests.harness import Harness

LIMA = {"tz": "America/Lima", "tz_offset": -5 * 3600, "tz_label": "Peru Time", "locale": "es-LA"}


def lender_row(harness: Harness, user_id: str) -> Lender | None:
    with harness.db.sessions() as session:
        found = session.query(Lender).filter(Lender.slack_user_id == user_id).one_or_none()
        if found is not None:
            session.expunge(found)
        return found


def lend_all(harness: Harness, user_id: str, amount: int) -> int:
    project_id = make_project(harness.db, amount=amount)
    with harness.db.sessions() as session:
        reference = session.get_one(Project, project_id).reference
    harness.command(user_id, f"pledge {reference} {amount // 100}")
    harness.click(user_id, "pledge_confirm", within=harness.reply(user_id))
    return project_id


def changed(harness: Harness, user_id: str, kind: str = "user_change") -> None:
    """The emulator's directory changed: it tells the app, signed, as Slack would."""
    assert harness.sender.directory_changed(user_id, kind).status == 200
    harness.settle()


def next_wednesday(hour_utc: int) -> datetime:
    today = utcnow().date()
    day = today + timedelta(days=(2 - today.weekday()) % 7 or 7)
    return datetime(day.year, day.month, day.day, hour_utc)


def test_a_lender_in_lima_hears_of_their_repayment_in_their_working_hours(
    harness_on_db: Harness,
) -> None:
    harness = harness_on_db
    ana = harness.user("ana", real_name="Ana Quispe", **LIMA)
    project_id = lend_all(harness, ana.id, 2_000)

    found = lender_row(harness, ana.id)
    assert found is not None and found.looked_up_at is not None
    assert (found.tz, found.locale, found.real_name) == ("America/Lima", "es-LA", "Ana Quispe")
    assert [c.args.get("include_locale") for c in harness.calls("users.info")] == ["1"]
    assert harness.count(PendingLookup) == 0

    paid = RepaymentInput(project_id, 500, utcnow().date(), "R-1")
    assert record_repayment(harness.db.sessions, paid, LendingRules()).ok
    # 08:00 UTC is 03:00 in Lima: nothing goes; 14:00 UTC is 09:00, their day begins.
    assert harness.deliver(next_wednesday(8)).messages_sent == 0
    assert harness.slack.dms(ana.id) == []
    assert harness.deliver(next_wednesday(14)).messages_sent >= 1
    assert any("€5.00" in m.text or "5.00" in str(m.blocks) for m in harness.slack.dms(ana.id))


def test_in_working_hours_the_dm_follows_the_repayment_within_a_minute(
    harness: Harness,
) -> None:
    ana = harness.user("ana", **LIMA)
    project_id = lend_all(harness, ana.id, 2_000)
    harness.deliver(next_wednesday(16))
    before = len(harness.slack.dms(ana.id))
    paid = RepaymentInput(project_id, 500, utcnow().date(), "R-1")
    assert record_repayment(harness.db.sessions, paid, LendingRules()).ok
    # 16:00 UTC is 11:00 in Lima; a delivery worker polls well within the minute.
    assert harness.deliver(next_wednesday(16) + timedelta(seconds=30)).messages_sent == 1
    assert len(harness.slack.dms(ana.id)) == before + 1


def test_a_person_looked_up_today_is_not_looked_up_again(harness: Harness) -> None:
    ana = harness.user("ana", **LIMA)
    harness.command(ana.id, "portfolio")
    harness.command(ana.id, "credit")
    harness.open_home(ana.id)
    assert len(harness.calls("users.info")) == 1


def test_someone_of_another_organisation_is_marked_as_such(harness: Harness) -> None:
    olga = harness.user("olga", team_id="TPARTNER")
    # Her first Home and its lookup run side by side: a lookup that answers before Home has
    # made her a lender stores nothing (a lookup makes no lender of another organisation) and
    # leaves her to be looked up when she next appears.
    harness.open_home(olga.id)
    harness.open_home(olga.id)
    assert 1 <= len(harness.calls("users.info")) <= 2
    found = lender_row(harness, olga.id)
    assert found is not None and found.is_external


def _answer_user_not_found(state: Any, args: Any) -> Any:
    raise SlackError("user_not_found")


def test_users_info_not_finding_them_fails_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(web_api.METHODS, "users.info", _answer_user_not_found)
    ana = harness.user("ana", **LIMA)
    harness.command(ana.id, "portfolio")
    assert harness.reply_text(ana.id)
    assert harness.count(PendingLookup) == 0


def test_users_info_rate_limited_is_retried_after_retry_after(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[str] = []
    original = RateLimiter.check

    def once(self: RateLimiter, method: str, *args: Any) -> int | None:
        if method == "users.info" and not refused:
            refused.append(method)
            return 1
        return original(self, method, *args)

    monkeypatch.setattr(RateLimiter, "check", once)
    ana = harness.user("ana", **LIMA)
    harness.command(ana.id, "portfolio")
    assert harness.reply_text(ana.id)
    assert [c.status for c in harness.calls("users.info")] == [429, 200]
    found = lender_row(harness, ana.id)
    assert found is not None and found.tz == "America/Lima"


def test_users_info_timing_out_fails_nothing_and_is_asked_again_next_time(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original = WebClient.users_info

    def times_out(self: WebClient, **kwargs: Any) -> Any:
        raise TimeoutError("timed out")

    monkeypatch.setattr(WebClient, "users_info", times_out)
    ana = harness.user("ana", **LIMA)
    with caplog.at_level(logging.WARNING, logger="bot.runtime.first_contact"):
        harness.command(ana.id, "portfolio")
    assert harness.reply_text(ana.id)
    assert "asked again later" in caplog.text
    # Their DMs wait for the lookup a few minutes at most, then go in the default zone.
    assert harness.count(PendingLookup) == 1
    monkeypatch.setattr(WebClient, "users_info", original)
    harness.command(ana.id, "credit")
    found = lender_row(harness, ana.id)
    assert found is not None and found.tz == "America/Lima"
    assert harness.count(PendingLookup) == 0


# -- kept current --------------------------------------------------------------------------


def known(harness: Harness, name: str, **profile: Any) -> str:
    user = harness.user(name, **profile)
    harness.command(user.id, "portfolio")
    return user.id


def test_user_change_stores_a_new_time_zone_name_and_deactivation_at_once(
    harness_on_db: Harness,
) -> None:
    harness = harness_on_db
    bilal = known(harness, "bilal", tz="Asia/Beirut")
    calls = len(harness.calls())
    user = harness.slack.state.user(bilal)
    user.tz, user.real_name, user.locale, user.deleted = "Asia/Tokyo", "Bilal K.", "fr-FR", True
    changed(harness, bilal)
    found = lender_row(harness, bilal)
    assert found is not None
    assert (found.tz, found.real_name, found.locale, found.deactivated) == (
        "Asia/Tokyo",
        "Bilal K.",
        "fr-FR",
        True,
    )
    # No Slack call: the event carries everything.
    assert len(harness.calls()) == calls


def test_user_change_for_an_unknown_person_creates_nobody(harness: Harness) -> None:
    stranger = harness.user("stranger", tz="Asia/Tokyo")
    changed(harness, stranger.id)
    changed(harness, stranger.id, "team_join")
    assert harness.count(Lender) == 0
    assert harness.calls("users.info") == []


def test_user_change_from_another_organisation_is_ignored(harness: Harness) -> None:
    ana = known(harness, "ana", tz="America/Lima")
    # The same id, now seen as someone of another organisation.
    harness.slack.state.user(ana).team_id = "TPARTNER"
    harness.slack.state.user(ana).tz = "Asia/Tokyo"
    changed(harness, ana)
    found = lender_row(harness, ana)
    assert found is not None and found.tz == "America/Lima"


def test_an_unknown_time_zone_keeps_the_old_one_and_is_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    ana = known(harness, "ana", tz="America/Lima")
    harness.slack.state.user(ana).tz = "Mars/Olympus"
    with caplog.at_level(logging.WARNING, logger="storage.people.directory"):
        changed(harness, ana)
    found = lender_row(harness, ana)
    assert found is not None and found.tz == "America/Lima"
    assert "Mars/Olympus" in caplog.text


def test_missing_fields_change_nothing(harness: Harness) -> None:
    ana = known(harness, "ana", real_name="Ana Quispe", **LIMA)
    harness.event({"type": "user_change", "user": {"id": ana}})
    harness.event({"type": "user_change", "user": "not an object"})
    harness.event({"type": "user_change"})
    found = lender_row(harness, ana)
    assert found is not None
    assert (found.tz, found.locale, found.real_name, found.deactivated) == (
        "America/Lima",
        "es-LA",
        "Ana Quispe",
        False,
    )


def test_a_slow_lookup_never_delays_the_ack(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = WebClient.users_info
    slow = threading.Event()

    def takes_its_time(self: WebClient, **kwargs: Any) -> Any:
        slow.wait(timeout=2)
        return original(self, **kwargs)

    monkeypatch.setattr(WebClient, "users_info", takes_its_time)
    ana = harness.user("ana", **LIMA)
    started = time.monotonic()
    delivery = harness.sender.slash_command(ana.id, "/lend", "portfolio", None, None)
    acked_in = time.monotonic() - started
    slow.set()
    harness.settle()
    assert delivery.status == 200 and acked_in < 1.5
    found = lender_row(harness, ana.id)
    assert found is not None and found.tz == "America/Lima"
