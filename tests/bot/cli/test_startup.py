"""A command imports what it needs: `--help` and a partner's report start without Slack's
libraries, the templates or the console."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

from storage.db.database import Database
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.projects.models import Project
from tests.bot.cli.test_cli import db, workdir
from tests.factories import make_lender, make_project

__all__ = ["db", "workdir"]

REPOSITORY = Path(__file__).parents[3]
# Runs the command line in a fresh interpreter and prints its exit code and every module loaded.
PROBE = """
import contextlib, io, sys
from bot.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(code, *sys.modules)
"""
NOT_FOR_THE_OPERATOR = {"slack_bolt", "slack_sdk", "jinja2", "templates", "bot.devtools.console"}


def loaded_by(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        check=True,
    )
    code, *modules = done.stdout.split()
    return int(code), set(modules)


def test_help_imports_no_command() -> None:
    code, modules = loaded_by("--help")
    assert code == 0
    assert not modules & (NOT_FOR_THE_OPERATOR | {"sqlalchemy", "apscheduler", "alembic"})


def test_a_repayment_report_is_imported_without_slack_or_the_console(
    db: Database, workdir: Path
) -> None:
    project = make_project(db, 4_000)
    assert pledge(
        db.sessions, PledgeRequest(make_lender(db), project, 4_000), LendingRules(), key="p"
    ).ok
    with db.sessions() as session:
        reference = session.get_one(Project, project).reference
    report = workdir / "report.csv"
    report.write_text(f"project,amount,date,reference\n{reference},10.00,{date.today()},R-1\n")

    code, modules = loaded_by("import", "repayments", str(report))
    assert code == 0
    assert "storage.repayments.report_import" in modules
    # A database at the newest revision is opened without loading Alembic.
    assert not modules & (NOT_FOR_THE_OPERATOR | {"alembic"})
