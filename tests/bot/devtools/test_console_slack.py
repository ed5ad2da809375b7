"""The console's world: time that resumes, waits that deliver on the way, channels that stay."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from bot.devtools.console_slack import DEMO_START, demo_start, memory_path
from storage.db.database import open_database
from storage.lending.models import Lender
from storage.notifications.models import Notification, NotificationStatus
from tests.bot.devtools.console_sessions import session


def sent_to_ana(database_url: str) -> list[datetime | None]:
    db = open_database(database_url)
    with db.sessions() as reading:
        sent = reading.execute(
            select(Notification.sent_at)
            .join(Lender, Lender.id == Notification.lender_id)
            .where(
                Lender.slack_user_id == "U0DEMOANA",
                Notification.status == NotificationStatus.SENT,
            )
        ).scalars()
        found = list(sent)
    db.dispose()
    return found


def test_wait_1d_delivers_a_dm_when_working_hours_open_on_the_way(database_url: str) -> None:
    # From 05:00 to 05:00 in Lima: Ana's news falls due at 09:00, half-way through the wait.
    transcript = session(database_url, "wait 1d", "dms")
    waited = transcript.split("> wait 1d\n")[1]
    assert waited.startswith("... It is Thu 08 Jan 2026 10:00 UTC, Thu 05:00 for ana.")
    assert "-- DM from microlend" in waited and "Your company gave you *€100.00*" in waited
    # Sent when her working hours opened (09:00 in Lima), not when the wait ended.
    assert set(sent_to_ana(database_url)) == {datetime(2026, 1, 7, 14, 0)}


def test_a_console_started_again_resumes_its_time_and_its_channels(database_url: str) -> None:
    session(database_url, "in #night-owls", "/lend circle create Night Owls", "wait 30d")
    again = session(database_url, "in #night-owls", "/lend circle", start=None)
    assert "It is Fri 06 Feb 2026 10:00 UTC" in again
    assert "You are in #night-owls." in again and "Night Owls" in again
    path = memory_path(database_url)
    assert path is not None and path.name == "microlend.db.console.json"


def test_a_damaged_memory_is_forgotten(database_url: str) -> None:
    path = memory_path(database_url)
    assert path is not None
    path.write_text("{not json", encoding="utf-8")
    assert "You are Ana Quispe" in session(database_url, start=None)


def test_a_new_demo_starts_inside_working_hours(tmp_path: Path) -> None:
    transcript = session(f"sqlite:///{tmp_path / 'microlend.db'}", start=None)
    assert "Loaded the demo: 341 Kiva projects" in transcript
    started = transcript.split("It is ")[1]
    assert f"{DEMO_START:%H:%M} UTC, " in started and "09:30 for ana" in started
    # Ana's welcome news goes out at once: it is 09:30 in Lima on a weekday.
    assert "-- DM from microlend" in transcript.split("ana@#general>")[0]


def test_the_demo_starts_on_the_latest_weekday_afternoon() -> None:
    monday_noon = datetime(2026, 1, 12, 12, 0)
    assert demo_start(monday_noon) == datetime(2026, 1, 9, 14, 30)  # the Friday before
    assert demo_start(monday_noon.replace(hour=15)) == datetime(2026, 1, 12, 14, 30)
    assert demo_start(datetime(2026, 1, 11, 20, 0)) == datetime(2026, 1, 9, 14, 30)  # Sunday


def test_the_catalogue_is_replenished_so_a_month_later_there_is_still_something_to_lend(
    database_url: str,
) -> None:
    transcript = session(database_url, "/lend browse ending-soon", "wait 30d", "/lend browse")
    ending_soon = transcript.split("> /lend browse ending-soon\n")[1].split("> wait 30d")[0]
    assert "1 day left" in ending_soon and "[1] Lend" in ending_soon
    waited, browse = transcript.split("> wait 30d\n")[1].split("> /lend browse\n")
    assert "300 new projects arrived." in waited
    assert "[1] Lend" in browse and "No open project matches" not in browse
