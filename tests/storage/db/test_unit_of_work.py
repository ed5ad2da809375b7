"""The transaction runners: what a writer that meets concurrent writers does."""

from __future__ import annotations

import io
import time

import pytest
from sqlalchemy.exc import OperationalError

from storage.db.database import Database
from storage.db.unit_of_work import Busy, retried, retrying
from storage.lending.rules import LendingRules
from storage.repayments import report_import
from storage.repayments.report_import import import_repayments


class Deadlock(Exception):
    def __str__(self) -> str:
        return "deadlock detected"


def deadlock() -> OperationalError:
    return OperationalError("UPDATE accounts ...", {}, Deadlock())


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)


def test_a_deadlocked_writer_runs_again_until_it_gets_through() -> None:
    attempts: list[int] = []

    def attempt() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise deadlock()
        return "done"

    assert retrying(attempt) == "done" and len(attempts) == 3


def test_a_writer_that_keeps_losing_gives_up_saying_so() -> None:
    def attempt() -> None:
        raise deadlock()

    with pytest.raises(Busy, match="try again"):
        retrying(attempt)


def test_other_database_errors_are_not_retried() -> None:
    attempts: list[int] = []

    def attempt() -> None:
        attempts.append(1)
        raise OperationalError("SELECT 1", {}, Exception("no such table: pledges"))

    with pytest.raises(OperationalError):
        retrying(attempt)
    assert len(attempts) == 1


def test_a_report_that_lost_a_deadlock_is_read_again_from_its_first_line(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = report_import._import_round
    rounds: list[int] = []

    def losing_once(*args: object, **kwargs: object) -> object:
        rounds.append(1)
        report = real(*args, **kwargs)  # type: ignore[arg-type]
        if len(rounds) == 1:
            raise deadlock()
        return report

    monkeypatch.setattr(report_import, "_import_round", losing_once)
    lines = b"project,amount,date,reference\nNOSUCH,10.00,2026-01-05,R-1\n"
    report = import_repayments(db.sessions, io.BytesIO(lines), LendingRules())
    # The second round saw the report's line again, not the end of the file.
    assert len(rounds) == 2 and report.skipped == 1


def test_a_retried_writer_keeps_its_arguments_across_attempts() -> None:
    seen: list[tuple[int, str]] = []

    @retried
    def writer(number: int, *, name: str) -> str:
        seen.append((number, name))
        if len(seen) < 2:
            raise deadlock()
        return f"{name}{number}"

    assert writer(7, name="export") == "export7" and seen == [(7, "export")] * 2
