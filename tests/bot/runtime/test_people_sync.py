"""``people sync``: lenders' names and time zones from users.list, against the emulator."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.devtools.emulator import Emulator, EmulatorConfig, RateLimitConfig
from bot.runtime.jobs import JobContext, run_job
from bot.runtime.people_sync import SyncResult, sync_profiles
from bot.runtime.slack_directory import installation_of
from storage.db.database import Database
from storage.lending.credit import grant_credit
from storage.lending.models import Lender, PayoutReason, PayoutRequest
from storage.lending.rules import LeaverCredit, LendingRules
from tests.factories import make_lender

TEAM = EmulatorConfig().team_id


def lender(db: Database, lender_id: int) -> tuple[str, str]:
    with db.sessions() as session:
        found = session.get_one(Lender, lender_id)
        return found.display_name, found.tz


def lender_count(db: Database) -> int:
    with db.sessions() as session:
        return session.execute(select(func.count()).select_from(Lender)).scalar_one()


def test_lenders_get_their_time_zone_and_name_across_pages(db: Database, slack: Emulator) -> None:
    ana = slack.add_user("ana", tz="Asia/Dushanbe")
    ben = slack.add_user("ben", tz="America/Lima")
    slack.add_user("stranger", tz="Africa/Dakar")
    carla = slack.add_user("carla", tz="Asia/Phnom_Penh")
    ana_id, ben_id, carla_id = (make_lender(db, u.id, TEAM) for u in (ana, ben, carla))
    elsewhere = make_lender(db, ana.id, "T0OTHER")

    result = sync_profiles(
        slack.client(), db.sessions, TEAM, LeaverCredit.PAYOUT, page_size=2, pause=0
    )

    # The bot and four people: three pages of two.
    assert (result.pages, result.users_seen, result.lenders_updated) == (3, 4, 3)
    assert lender(db, ana_id) == ("ana", "Asia/Dushanbe")
    assert lender(db, ben_id) == ("ben", "America/Lima")
    assert lender(db, carla_id) == ("carla", "Asia/Phnom_Penh")
    # Another workspace's lender with the same user id is someone else.
    assert lender(db, elsewhere) == ("Ana", "UTC")
    # Someone who never lent is not made a lender.
    assert lender_count(db) == 4
    # One call per page, none per person.
    assert not slack.calls("users.info")


def test_a_second_sync_changes_nothing(db: Database, slack: Emulator) -> None:
    make_lender(db, slack.add_user("ana", tz="Asia/Dushanbe").id, TEAM)
    assert (
        sync_profiles(
            slack.client(), db.sessions, TEAM, LeaverCredit.PAYOUT, pause=0
        ).lenders_updated
        == 1
    )
    again = sync_profiles(slack.client(), db.sessions, TEAM, LeaverCredit.PAYOUT, pause=0)
    assert (again.pages, again.users_seen, again.lenders_updated) == (1, 1, 0)


def test_a_bogus_time_zone_keeps_the_stored_one(db: Database, slack: Emulator) -> None:
    lender_id = make_lender(db, slack.add_user("ana", tz="Mars/Olympus_Mons").id, TEAM)
    result = sync_profiles(slack.client(), db.sessions, TEAM, LeaverCredit.PAYOUT, pause=0)
    assert result.lenders_updated == 1
    assert lender(db, lender_id) == ("ana", "UTC")


def test_bots_are_skipped_and_deactivated_people_marked(db: Database, slack: Emulator) -> None:
    bot = slack.add_user("helper", tz="Asia/Dushanbe", is_bot=True)
    gone = slack.add_user("gone", tz="Asia/Dushanbe", deleted=True)
    bot_id, gone_id = (make_lender(db, u.id, TEAM) for u in (bot, gone))
    result = sync_profiles(slack.client(), db.sessions, TEAM, LeaverCredit.PAYOUT, pause=0)
    assert (result.users_seen, result.lenders_updated) == (0, 1)
    assert lender(db, bot_id) == ("Ana", "UTC")
    with db.sessions() as session:
        assert session.get_one(Lender, gone_id).deactivated


def test_a_leaver_the_sync_finds_is_settled_with_their_credit_paid_out(
    db: Database, slack: Emulator
) -> None:
    gone = slack.add_user("gone", tz="Asia/Dushanbe", deleted=True)
    gone_id = make_lender(db, gone.id, TEAM)
    assert grant_credit(db.sessions, gone_id, 2_500, key="welcome", reason="welcome").ok
    for _night in range(2):
        sync_profiles(slack.client(), db.sessions, TEAM, LeaverCredit.PAYOUT, pause=0)
    with db.sessions() as session:
        assert session.get_one(Lender, gone_id).left_at is not None
        paid = session.execute(
            select(PayoutRequest.amount, PayoutRequest.reason).where(
                PayoutRequest.lender_id == gone_id
            )
        ).all()
    assert [tuple(row) for row in paid] == [(2_500, PayoutReason.LEAVER)]


def test_guests_and_locales_are_kept(db: Database, slack: Emulator) -> None:
    guest = slack.add_user("gus", tz="America/Lima", locale="fr-FR", is_restricted=True)
    lender_id = make_lender(db, guest.id, TEAM)
    sync_profiles(slack.client(), db.sessions, TEAM, LeaverCredit.PAYOUT, pause=0)
    with db.sessions() as session:
        found = session.get_one(Lender, lender_id)
        assert (found.is_restricted, found.is_ultra_restricted, found.real_name) == (
            True,
            False,
            "gus",
        )
        assert found.looked_up_at is not None


def test_a_429_is_waited_out_and_nothing_is_lost(sqlite_db: Database) -> None:
    # Tier 2 scaled to one call a second with no burst: the second page is refused at once.
    limits = RateLimitConfig(scale=3.0, tier_burst_seconds=1.0)
    with Emulator(EmulatorConfig(rate_limits=limits)) as slack:
        users = [slack.add_user(name, tz="America/Lima") for name in ("ana", "ben", "carla")]
        ids = [make_lender(sqlite_db, u.id, TEAM) for u in users]
        result = sync_profiles(
            slack.client(), sqlite_db.sessions, TEAM, LeaverCredit.PAYOUT, page_size=2, pause=0
        )
        statuses = [c.status for c in slack.calls("users.list")]
    assert 429 in statuses and statuses.count(200) == result.pages == 2
    assert result.lenders_updated == 3
    assert {lender(sqlite_db, i)[1] for i in ids} == {"America/Lima"}


def test_the_org_key_is_the_grid_else_the_team() -> None:
    with Emulator(EmulatorConfig(rate_limits=RateLimitConfig.off())) as slack:
        assert installation_of(slack.client()).org_key == TEAM
    with Emulator(EmulatorConfig(enterprise_id="E0GRID")) as slack:
        assert installation_of(slack.client()).org_key == "E0GRID"


@pytest.fixture
def cli_env(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slack: Emulator
) -> Path:
    shutil.copy(sqlite_template, tmp_path / "cli.db")
    for name in os.environ:
        if name.startswith(("MICROLEND_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    return tmp_path


def test_the_cli_command(
    cli_env: Path,
    slack: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["people", "sync"]) == 2
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
    slack.add_user("ana", tz="Asia/Dushanbe")
    assert main(["people", "sync"]) == 0
    assert capsys.readouterr().out == "people sync: pages 1, people 1, lenders updated 0\n"
    slack.revoke_token(slack.bot_token)
    assert main(["people", "sync"]) == 1
    assert "token_revoked" in capsys.readouterr().err


def test_a_sync_cut_off_half_way_resumes_at_the_page_it_had_not_finished(
    db: Database, slack: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = [slack.add_user(name, tz="America/Lima") for name in ("ana", "ben", "carla")]
    for user in users:
        make_lender(db, user.id, TEAM)
    real_list = slack.client().users_list

    def dies_on_the_second_page(**kwargs: Any) -> Any:
        if kwargs.get("cursor"):
            raise TimeoutError("the connection dropped")
        return real_list(**kwargs)

    cut = slack.client()
    monkeypatch.setattr(cut, "users_list", dies_on_the_second_page)
    with pytest.raises(TimeoutError):
        sync_profiles(cut, db.sessions, TEAM, LeaverCredit.PAYOUT, page_size=2, pause=0)
    resumed = sync_profiles(
        slack.client(), db.sessions, TEAM, LeaverCredit.PAYOUT, page_size=2, pause=0
    )
    # The bot and Ana were the first page: the resumed run reads Ben and Carla only.
    assert (resumed.pages, resumed.lenders_updated) == (1, 2)
    again = sync_profiles(
        slack.client(), db.sessions, TEAM, LeaverCredit.PAYOUT, page_size=2, pause=0
    )
    assert again.pages == 2


def test_the_nightly_job_syncs_with_the_clients_installation(
    db: Database, slack: Emulator, rules: LendingRules
) -> None:
    lender_id = make_lender(db, slack.add_user("ana", tz="Asia/Dushanbe").id, TEAM)
    run = run_job(JobContext(db.sessions, rules, slack=lambda: [slack.client()]), "people-sync")
    assert isinstance(run.result, SyncResult) and run.result.lenders_updated == 1
    assert lender(db, lender_id)[1] == "Asia/Dushanbe"
    skipped = run_job(JobContext(db.sessions, rules, slack=list), "people-sync")
    assert "SLACK_BOT_TOKEN" in str(skipped.result)
