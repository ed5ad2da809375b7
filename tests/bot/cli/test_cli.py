"""The ``microlend`` command line: help everywhere, exit codes, and each command end to end."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from bot.cli import main
from bot.devtools.demo import DEMO_CSV
from bot.devtools.emulator import Emulator, EmulatorConfig
from bot.runtime.jobs import JOBS
from storage.db.clock import utcnow
from storage.db.database import Database, open_database
from storage.ledger.accounts import lender_balance
from storage.ledger.models import AccountKind
from storage.lending.credit import withdraw
from storage.lending.lenders import SlackIdentity, find_lender
from storage.lending.models import Lender
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.notifications.kinds import Kind
from storage.notifications.models import Notification, NotificationStatus
from storage.notifications.outbox import enqueue
from storage.projects.models import Project
from tests.factories import make_lender, make_project

TEAM = EmulatorConfig().team_id
KIVA_SAMPLE = DEMO_CSV  # the real 1k Kiva sample, shipped with the package
COMMANDS = [
    [],
    ["db"],
    ["db", "upgrade"],
    ["import"],
    ["import", "projects"],
    ["import", "repayments"],
    ["export"],
    ["export", "payroll"],
    ["export", "payouts"],
    ["grant"],
    ["serve"],
    ["run"],
    ["worker"],
    ["outbox"],
    ["jobs"],
    ["jobs", "list"],
    ["jobs", "run"],
    ["leavers"],
    ["console"],
    ["demo"],
]


@pytest.fixture
def workdir(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A migrated SQLite database in DATABASE_URL, and the test's own working directory."""
    shutil.copy(sqlite_template, tmp_path / "cli.db")
    for name in os.environ:
        if name.startswith(("MICROLEND_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture
def db(workdir: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{workdir / 'cli.db'}")
    yield database
    database.dispose()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "microlend")
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _err = run(capsys, *command, "--help")
    assert code == 0
    assert out.startswith(f"usage: microlend {' '.join(command)}".rstrip())


HELP_DEFAULTS = {
    "": ["DATABASE_URL (default: sqlite:///microlend.db)"],
    "check": ["rule (default: 20)"],
    "import projects": ["format (default: kiva)", "default: 1 if MICROLEND_CURRENCY is USD"],
    "export payroll": ["(default: payroll-YYYY-MM.csv)"],
    "export payouts": ["(default: make a new batch)", "(default: payouts-ID.csv)"],
    "grant": ["why (default: manual)", "default: the workspace SLACK_BOT_TOKEN is installed in"],
    "serve": ["listen on (default: 0.0.0.0)", "listen on (default: 3000)"],
    "outbox": ["again (default: pending)", "at most (default: 50)"],
}


@pytest.mark.parametrize(("command", "defaults"), HELP_DEFAULTS.items())
def test_help_shows_the_defaults(
    capsys: pytest.CaptureFixture[str], command: str, defaults: list[str]
) -> None:
    code, out, _err = run(capsys, *command.split(), "--help")
    text = " ".join(out.split())
    assert code == 0 and "(default: None)" not in text
    assert all(default in text for default in defaults)


def test_python_dash_m_bot_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[3],
        check=False,
    )
    assert done.returncode == 0
    assert "import" in done.stdout and "export" in done.stdout and "grant" in done.stdout


@pytest.mark.parametrize("argv", [["jobs", "list"], ["outbox", "pending"]])
def test_a_reader_that_stops_early_is_not_told_of_a_broken_pipe(
    db: Database, argv: list[str]
) -> None:
    queue(db, 200)
    read, write = os.pipe()
    os.close(read)  # like `| head` once it has read its lines, before microlend writes
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot", *argv],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parents[3],
            check=False,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


def test_a_database_that_does_not_answer_is_named(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{workdir / 'no such folder' / 'cli.db'}")
    code, _out, err = run(capsys, "outbox")
    assert code == 1
    assert err == "microlend: the database in DATABASE_URL failed: unable to open database file\n"


def test_ctrl_c_stops_a_command_quietly(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("bot.runtime.jobs.list_jobs", interrupted)
    assert run(capsys, "jobs", "list") == (130, "", "")


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["import"], ["export", "payroll"]])
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _out, err = run(capsys, *argv)
    assert code == 2 and "usage: microlend" in err


def test_unusable_settings_exit_2_naming_the_variable(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROLEND_CURRENCY", "euro")
    code, _out, err = run(capsys, "export", "payroll", "--month", "2024-01")
    assert code == 2 and "MICROLEND_CURRENCY" in err


def test_db_upgrade(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(capsys, "db", "upgrade")
    assert code == 0 and "schema is current" in out


def test_import_projects_from_kiva(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "import", "projects", str(KIVA_SAMPLE))
    assert code == 1 and "--usd-rate" in err

    code, out, _err = run(capsys, "import", "projects", str(KIVA_SAMPLE), "--usd-rate", "0.92")
    assert (code, out) == (0, "Loaded 1,000 projects; 0 unchanged; 0 skipped.\n")
    code, out, _err = run(capsys, "import", "projects", str(KIVA_SAMPLE), "--usd-rate", "0.92")
    assert (code, out) == (0, "Loaded 0 projects; 1,000 unchanged; 0 skipped.\n")


def test_import_problems_go_to_stderr_with_exit_1(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = "external_id,borrower,purpose,country_code,country,sector,activity,amount,"
    header += "term_months,repayment_interval,partner_id\n"
    good = "A,Ana,to buy seeds,PE,Peru,Agriculture,Farming,100.00,12,monthly,p1\n"
    bad = "B,Bea,to buy seeds,PE,Peru,Agriculture,Farming,-5,12,monthly,p1\n"
    (workdir / "projects.csv").write_text(header + good + bad)

    code, out, err = run(capsys, "import", "projects", "projects.csv", "--format", "csv")
    assert code == 1
    assert out == "Loaded 1 project; 0 unchanged; 1 skipped.\n"
    assert err == "line 3: amount: Enter a positive amount, like 20 or 20.50\n"

    code, _out, err = run(
        capsys, "import", "projects", "projects.csv", "--format", "csv", "--usd-rate", "1"
    )
    assert code == 1 and "Only Kiva files are in USD" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "projects", "missing.csv", "--usd-rate", "1"], "No such file"),
        (["import", "repayments", "missing.csv"], "No such file"),
        (["import", "projects", "empty.csv", "--format", "csv"], "The file is empty"),
    ],
)
def test_unusable_files_exit_1(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (workdir / "empty.csv").write_bytes(b"")
    code, _out, err = run(capsys, *argv)
    assert code == 1 and message in err and err.startswith("microlend: ")


def test_import_repayments_twice_pays_once(
    db: Database, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(db, 4_000)
    lender = make_lender(db)
    assert pledge(db.sessions, PledgeRequest(lender, project, 4_000), LendingRules(), key="p").ok
    with db.sessions() as session:
        external_id = session.get(Project, project).external_id  # type: ignore[union-attr]
    today = date.today().isoformat()
    report = f"project,amount,date,reference\n{external_id},10.00,{today},R-1\n"
    (workdir / "repayments.csv").write_text(report)

    code, out, _err = run(capsys, "import", "repayments", "repayments.csv")
    assert (code, out) == (0, "Loaded 1 repayment; 0 unchanged; 0 skipped.\n")
    code, out, _err = run(capsys, "import", "repayments", "repayments.csv")
    assert code == 0
    assert out == (
        "Loaded 0 repayments; 1 unchanged; 0 skipped.\nline 2: already recorded (reference R-1)\n"
    )
    with db.sessions() as session:
        assert lender_balance(session, lender, AccountKind.AVAILABLE) == 1_000


def test_export_payroll_writes_the_same_file_twice(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, "export", "payroll", "--month", "2999-01")
    assert code == 1 and "has not begun yet" in err

    code, out, _err = run(capsys, "export", "payroll", "--month", "2024-01")
    assert code == 0 and "new" in out and out.endswith("payroll-2024-01.csv\n")
    first = (workdir / "payroll-2024-01.csv").read_bytes()
    code, out, _err = run(capsys, "export", "payroll", "--month", "2024-01", "--output", "b.csv")
    assert code == 0 and "already exported" in out
    assert (workdir / "b.csv").read_bytes() == first


@pytest.mark.parametrize(
    ("month", "message"),
    [("2024-01\n", "is not a month"), ("0000-01", "there is no year 0")],
)
def test_export_payroll_refuses_an_impossible_month_and_writes_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], month: str, message: str
) -> None:
    code, _out, err = run(capsys, "export", "payroll", "--month", month)
    assert code == 1 and message in err and err.startswith("microlend: ")
    assert list(workdir.glob("payroll-*")) == []
    code, out, _err = run(capsys, "export", "payroll", "--month", "2024-01")
    assert code == 0 and "new" in out


def test_import_repayments_with_a_stray_quote_reports_its_line(
    db: Database, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = make_project(db, 10_000)
    assert pledge(
        db.sessions, PledgeRequest(make_lender(db), project, 10_000), LendingRules(), key="p"
    ).ok
    with db.sessions() as session:
        reference = session.get_one(Project, project).reference
    today = date.today().isoformat()
    lines = [f"{reference},1.00,{today},R-{number}\n" for number in range(52)]
    lines[1] = lines[1].replace("R-1", 'R-1"')
    (workdir / "report.csv").write_text("project,amount,date,reference\n" + "".join(lines))

    code, out, err = run(capsys, "import", "repayments", "report.csv")
    assert (code, out) == (1, "Loaded 51 repayments; 0 unchanged; 1 skipped.\n")
    assert err == "line 3: a quote opened on this line is never closed\n"


def test_export_payouts_batches(
    db: Database, workdir: Path, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, "export", "payouts")
    assert (code, out) == (0, "No payout requests are waiting; no batch was made.\n")

    assert run(capsys, "grant", "U0ANA", "50")[0] == 0
    with db.sessions() as session:
        ana = find_lender(session, SlackIdentity("U0ANA", TEAM))
        assert ana is not None
    assert withdraw(db.sessions, ana.id, 2_000, key="w").ok
    code, out, _err = run(capsys, "export", "payouts", "--output", "batch.csv")
    assert code == 0 and "1 lender, €20.00" in out
    batch_id = out.split("(export ")[1].split(",")[0]
    assert (workdir / "batch.csv").read_text().splitlines()[1] == f"U0ANA,{TEAM},,20.00,EUR"

    code, _out, _err = run(capsys, "export", "payouts", "--batch", batch_id, "--output", "b2.csv")
    assert code == 0
    assert (workdir / "b2.csv").read_bytes() == (workdir / "batch.csv").read_bytes()
    code, _out, err = run(capsys, "export", "payouts", "--batch", "999")
    assert code == 1 and "There is no payouts export 999" in err


@pytest.fixture
def slack_team(workdir: Path, slack: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The workspace the CLI's bot token is installed in, with Ana and Bob in it."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
    monkeypatch.setenv("SLACK_API_URL", slack.base_url)
    slack.add_user("ana", id="U0ANA")
    slack.add_user("bob", id="U0BOB")
    return slack


def test_grant_is_a_no_op_the_second_time(
    db: Database, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run(capsys, "grant", "U0ANA", "U0BOB", "25")
    assert (code, out) == (0, "Granted €25.00 to 2 lenders; 0 already had this grant; 0 refused.\n")
    code, out, _err = run(capsys, "grant", "U0ANA", "U0BOB", "25", "--team", TEAM)
    assert (code, out) == (0, "Granted €25.00 to 0 lenders; 2 already had this grant; 0 refused.\n")
    code, _out, err = run(capsys, "grant", "U0ANA", "30")
    assert code == 1 and "give a new --reason" in err
    code, out, _err = run(capsys, "grant", "U0ANA", "30", "--reason", "june")
    assert code == 0 and "to 1 lender;" in out
    with db.sessions() as session:
        ana = find_lender(session, SlackIdentity("U0ANA", TEAM))
        assert ana is not None
        assert lender_balance(session, ana.id, AccountKind.AVAILABLE) == 5_500


def test_a_lender_who_has_left_since_is_not_granted_again(
    db: Database, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "grant", "U0ANA", "25")[0] == 0
    slack_team.state.users["U0ANA"].deleted = True
    code, _out, err = run(capsys, "grant", "U0ANA", "25", "--reason", "june")
    assert code == 1 and "U0ANA: their Slack account is deactivated" in err


def test_slackbot_and_people_of_other_workspaces_are_not_granted(
    db: Database, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    slack_team.add_user("slackbot", id="USLACKBOT")
    slack_team.add_user("guest", id="U0OTHER", team_id="T0OTHER")
    code, _out, err = run(capsys, "grant", "USLACKBOT", "U0OTHER", "25")
    assert code == 1
    assert "USLACKBOT: it is a bot or an app" in err
    assert "U0OTHER: they belong to another workspace" in err
    assert lender_count(db) == 0


def test_a_grant_file_may_start_with_a_byte_order_mark_but_must_be_text(
    db: Database, workdir: Path, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "users.txt").write_bytes("\ufeffU0ANA\n".encode())
    assert run(capsys, "grant", "--file", "users.txt", "20")[0] == 0
    (workdir / "users.txt").write_bytes(b"U0BOB\n\xff\xfe\n")
    code, _out, err = run(capsys, "grant", "--file", "users.txt", "20", "--reason", "b")
    assert code == 1 and "is not UTF-8 text" in err


def lender_count(db: Database) -> int:
    with db.sessions() as session:
        return session.execute(select(func.count()).select_from(Lender)).scalar_one()


def test_grant_from_a_file(
    db: Database, workdir: Path, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "users.txt").write_text(f"# new joiners\nU0ANA\n\nU0BOB, {TEAM}  # Bob\nU0ANA\n")
    code, out, _err = run(capsys, "grant", "--file", "users.txt", "20")
    assert code == 0 and "to 2 lenders" in out
    with db.sessions() as session:
        assert find_lender(session, SlackIdentity("U0BOB", TEAM)) is not None


def test_a_long_file_is_checked_against_the_directory_not_one_call_per_person(
    db: Database, workdir: Path, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    people = [slack_team.add_user(f"joiner{number}").id for number in range(60)]
    (workdir / "users.txt").write_text("\n".join(people) + "\n")
    code, out, _err = run(capsys, "grant", "--file", "users.txt", "20")
    assert code == 0 and "to 60 lenders" in out
    assert slack_team.calls("users.info") == [] and len(slack_team.calls("users.list")) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["grant", "25"], "either as USER_IDs or with --file"),
        (["grant", "U0ANA", "25", "--file", "users.txt"], "either as USER_IDs or with --file"),
        (["grant", "U0ANA", "alice", "25"], "'alice' is not a Slack user id"),
        (["grant", "U0ANA", "25 USD"], "Amounts are in EUR here"),
        (["grant", "--file", "users.txt", "25"], "users.txt, line 2: 'bob' is not a Slack user"),
        (["grant", "U0ANA", "U0NOBODY", "25"], "U0NOBODY: Slack knows no such user"),
        (["grant", "U0ANA", "U0GONE", "25"], "U0GONE: their Slack account is deactivated"),
        (["grant", "U0ANA", "U0BOT", "25"], "U0BOT: it is a bot or an app, not a person"),
        (["grant", "U0ANA", "25", "--team", "T0ELSEWHERE"], "but microlend is installed in"),
    ],
)
def test_a_bad_grant_grants_nothing(
    db: Database,
    workdir: Path,
    slack_team: Emulator,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    slack_team.add_user("gone", id="U0GONE", deleted=True)
    (workdir / "users.txt").write_text("U0ANA\nbob\n")
    code, _out, err = run(capsys, *argv)
    assert code == 1 and message in err
    assert lender_count(db) == 0


def test_grant_without_a_bot_token_grants_nothing(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, "grant", "U0ANA", "25")
    assert code == 2 and "grant cannot start without SLACK_BOT_TOKEN" in err
    assert lender_count(db) == 0


@pytest.mark.parametrize(
    ("argv", "given", "missing"),
    [
        (["serve"], {}, "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"),
        (["serve"], {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        (["run"], {"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN and SLACK_APP_TOKEN"),
        (["worker"], {"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
        (["people", "sync"], {}, "SLACK_BOT_TOKEN"),
    ],
)
def test_a_command_for_slack_does_not_start_without_its_settings_and_names_them(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    given: dict[str, str],
    missing: str,
) -> None:
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    command = " ".join(argv)
    assert err.startswith(
        f"microlend: {command} cannot start without {missing} in the environment. "
    )
    assert all(f"{name} is " in err for name in missing.split(" and "))


def test_demo_loads_once_and_says_what_it_loaded(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert re.fullmatch(
        r"demo: loaded [\d,]+ projects, 5 grants, \d+ pledges and \d+ repayments; "
        r"the lending circle is channel C0DEMOLIMA\n",
        out,
    )
    code, out, _ = run(capsys, "demo")
    assert (code, out) == (0, "demo: already loaded, nothing changed\n")
    code, out, _ = run(capsys, "outbox")
    assert code == 0 and "pending:" in out
    code, out, _ = run(capsys, "jobs", "list")
    assert code == 0 and "expire" in out and "next" in out


JOBS_TOLD = {
    "expire": "0 projects expired, 0 pledges refunded",
    "autolend": "€0.00 re-lent in 0 pledges for 0 lenders",
    "delinquency": "0 loans flagged late, 0 notifications queued",
    "idle-credit": "0 lenders reminded, 0 notifications queued",
    "circle-summaries": "0 circles summarised, 0 notifications queued",
    "reconcile": "0 broken rules, 0 notifications queued",
    "purge-sent-texts": "0 sent notifications purged of whom they named",
    "people-sync": "skipped: no SLACK_BOT_TOKEN or installation to ask Slack's directory with",
}


def test_every_job_is_told_in_words() -> None:
    assert set(JOBS_TOLD) == set(JOBS)


@pytest.mark.parametrize(("job", "told"), JOBS_TOLD.items())
def test_a_job_run_says_what_it_did(
    workdir: Path, capsys: pytest.CaptureFixture[str], job: str, told: str
) -> None:
    assert run(capsys, "jobs", "run", job) == (0, f"{job}: {told}\n", "")


def test_a_job_run_counts_one_in_the_singular(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    deadline = utcnow() - timedelta(days=1)
    project = make_project(db, 10_000, deadline=deadline)
    request = PledgeRequest(make_lender(db), project, 2_000)
    before = deadline - timedelta(days=1)
    assert pledge(db.sessions, request, LendingRules(), key="p", now=before).ok
    code, out, _err = run(capsys, "jobs", "run", "expire")
    assert (code, out) == (0, "expire: 1 project expired, 1 pledge refunded\n")


def test_a_console_session_from_standard_input(
    capsys: pytest.CaptureFixture[str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("/lend help\nquit\n"))
    code, out, _ = run(capsys, "console")
    assert code == 0
    assert "/lend circles`: the company leaderboard" in out


def queue(db: Database, count: int) -> list[int]:
    """``count`` notifications for one lender, oldest first, none tried yet."""
    lender = make_lender(db)
    with db.sessions() as session, session.begin():
        for number in range(count):
            enqueue(
                session,
                dedupe_key=f"test:{number}",
                kind=Kind.IMPACT,
                payload={},
                now=utcnow() + timedelta(minutes=number),
                lender_id=lender,
            )
        return list(session.scalars(select(Notification.id).order_by(Notification.id)))


def test_outbox_dead_lists_the_dead_with_what_last_went_wrong(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, _third = queue(db, 3)
    with db.sessions() as session, session.begin():
        session.execute(
            update(Notification)
            .where(Notification.id.in_([first, second]))
            .values(status=NotificationStatus.DEAD, attempts=6, last_error="channel_not_found")
        )
    code, out, _err = run(capsys, "outbox", "dead")
    header, columns, *listed = out.splitlines()
    assert (code, header) == (0, "dead: 2, pending: 1")
    assert columns.split() == ["id", "kind", "tried", "due", "to"]
    assert [line.split()[:4] for line in listed] == [
        [str(first), "impact", "6", "times"],
        [str(second), "impact", "6", "times"],
    ]
    assert all(line.endswith("channel_not_found") for line in listed)

    assert run(capsys, "outbox", "retry", str(first)) == (
        0,
        f"Notification {first} is due again.\n",
        "",
    )
    code, out, _err = run(capsys, "outbox", "dead")
    assert (code, out.splitlines()[0]) == (0, "dead: 1, pending: 2")


def test_outbox_says_when_a_view_is_empty_and_when_it_shows_only_the_oldest(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "outbox", "dead") == (0, "The outbox is empty.\n", "")
    queue(db, 3)
    assert run(capsys, "outbox", "dead") == (0, "pending: 3\nNo dead notifications.\n", "")
    code, out, _err = run(capsys, "outbox", "--limit", "2")
    assert code == 0 and len(out.splitlines()) == 5
    assert out.endswith("(the oldest 2; --limit N lists more)\n")


@pytest.mark.parametrize("argv", [["outbox", "retry"], ["outbox", "dead", "3"]])
def test_an_id_goes_with_retry_and_only_with_retry(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _out, err = run(capsys, *argv)
    assert code == 2 and "outbox retry ID" in err


def test_a_notification_already_sent_is_not_retried(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    (sent,) = queue(db, 1)
    with db.sessions() as session, session.begin():
        session.execute(update(Notification).values(status=NotificationStatus.SENT))
    code, _out, err = run(capsys, "outbox", "retry", str(sent))
    assert code == 1 and f"notification {sent} cannot be retried: it was sent" in err


def test_the_nightly_people_sync_run_by_hand_says_what_it_did(
    db: Database, slack_team: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "grant", "U0ANA", "25")  # Ana is a lender; Bob is only in the directory
    code, out, _err = run(capsys, "jobs", "run", "people-sync")
    assert code == 0 and out.startswith("people-sync: ") and "in 1 page, 1 lender updated" in out
