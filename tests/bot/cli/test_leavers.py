"""`microlend leavers`: who left the company, what is still lent in their name, and what
finance pays out to them."""

from __future__ import annotations

import pytest

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.db.unit_of_work import transaction
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LeaverCredit, LendingRules
from storage.people.directory import Profile, update_profiles
from storage.repayments.recording import RepaymentInput, record_repayment
from tests.bot.cli.test_cli import TEAM, db, run, workdir
from tests.factories import make_lender, make_project

__all__ = ["db", "workdir"]


def ana_leaves_with_a_loan_half_repaid(db: Database) -> None:
    ana = make_lender(db, "U0ANA", TEAM)
    project_id = make_project(db, amount=4_000)
    assert pledge(db.sessions, PledgeRequest(ana, project_id, 4_000), LendingRules(), key=None).ok
    paid = RepaymentInput(project_id, 2_000, utcnow().date(), "R-1")
    assert record_repayment(db.sessions, paid, LendingRules()).ok
    with transaction(db.sessions) as session:
        gone = Profile("U0ANA", "Ana Quispe", None, deactivated=True)
        update_profiles(session, TEAM, [gone], LeaverCredit.PAYOUT)


def test_nobody_has_left(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    make_lender(db, "U0ANA", TEAM)
    assert run(capsys, "leavers") == (0, "No lender has left the company.\n", "")


def test_a_leaver_with_money_still_lent_and_a_payout_waiting(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    ana_leaves_with_a_loan_half_repaid(db)
    code, out, err = run(capsys, "leavers")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        "1 leaver: what comes back to them is paid out to them as it does "
        "(MICROLEND_LEAVER_CREDIT)."
    )
    assert lines[1].split() == [
        "user", "left", "committed", "outstanding", "to", "pay", "out", "paid", "out",
        "donated", "name",
    ]  # fmt: skip
    assert lines[2].split() == [
        "U0ANA", f"{utcnow():%Y-%m-%d}", "€0.00", "€20.00", "€20.00", "€0.00", "€0.00",
        "Ana", "Quispe",
    ]  # fmt: skip


def test_with_donate_the_operator_is_told_where_the_money_goes(
    db: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ana_leaves_with_a_loan_half_repaid(db)
    monkeypatch.setenv("MICROLEND_LEAVER_CREDIT", "donate")
    code, out, _err = run(capsys, "leavers")
    assert code == 0 and "goes to the programme's grant pool" in out


def test_an_unknown_leaver_credit_setting_is_named(
    db: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROLEND_LEAVER_CREDIT", "keep")
    code, _out, err = run(capsys, "leavers")
    assert code == 2 and "MICROLEND_LEAVER_CREDIT='keep': use payout or donate." in err
