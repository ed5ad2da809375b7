"""`microlend check`: what the reconciliation proves, as operators run it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from storage.db.database import Database
from storage.lending.models import LenderMonth
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from tests.bot.cli.test_cli import db, run, workdir
from tests.factories import make_lender, make_project

__all__ = ["db", "workdir"]


def test_check_passes_on_books_the_operations_wrote(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    lender, project = make_lender(db), make_project(db)
    assert pledge(db.sessions, PledgeRequest(lender, project, 25_00), LendingRules(), key="p").ok
    code, out, _err = run(capsys, "check")
    assert code == 0
    assert out.startswith("The books reconcile: all ") and "rules hold" in out


@pytest.mark.unreconciled
def test_check_names_each_broken_rule_with_its_rows_and_exits_1(
    db: Database, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lender, project = make_lender(db), make_project(db)
    assert pledge(db.sessions, PledgeRequest(lender, project, 25_00), LendingRules(), key="p").ok
    with db.sessions() as session, session.begin():
        session.execute(update(LenderMonth).values(new_money=LenderMonth.new_money + 1))
    code, out, _err = run(capsys, "check", "--rows", "5")
    assert code == 1
    assert out.startswith("1 of ") and " rules is broken:" in out
    assert "monthly_cap: the new money counted against each lender's monthly cap" in out
    assert "1 row breaks it" in out
    assert "lender_id | month | pledged | counted" in out
    assert f"{lender} | " in out and " | 2500 | 2501" in out
