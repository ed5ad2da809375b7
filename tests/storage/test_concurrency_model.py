"""The concurrency model at a small size, seeded: every operation at once, then the books.

The database fixture reconciles after the test: that is where a race would show."""

from __future__ import annotations

from datetime import datetime

import pytest

from storage.db.database import Database
from tests.storage.concurrency_model import run_mix, set_up

START = datetime(2026, 3, 2, 10, 0)


@pytest.mark.parametrize("seed", [7, 1234])
def test_everything_at_once_leaves_books_that_reconcile(db: Database, seed: int) -> None:
    programme = set_up(db, lenders=12, projects=10, start=START)
    tally = run_mix(programme, operations=300, threads=8, seed=seed)
    assert tally.operations == 300
    done = {kind.split(":")[0] for kind, count in tally.counts.items() if kind.endswith(":done")}
    assert {"pledge", "expire", "withdraw"} <= done
