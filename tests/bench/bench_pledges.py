"""Pledge throughput: one worker and eight concurrent workers, on SQLite and PostgreSQL.

Run: .venv/bin/python tests/bench/bench_pledges.py [--db sqlite|postgres|both] [--pledges N]

Each pledge is the whole operation: idempotency record, credit and monthly-cap checks, the
conditional funding UPDATE, the pledge row and a three-legged ledger transaction. Projects are
large enough that none fills, so every pledge is accepted. The floor is the same number of
single-row INSERT transactions into ``operations`` by the same workers, measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.db.models import Operation
from storage.db.unit_of_work import transaction
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from tests.bench.bench_repayments import fresh_database
from tests.factories import make_lender, make_project

RULES = LendingRules(monthly_cap=10**12)


def pledges_per_second(
    db: Database, workers: int, count: int, lenders: list[int], projects: list[int]
) -> float:
    def one(index: int) -> None:
        request = PledgeRequest(
            lenders[index % len(lenders)], projects[index % len(projects)], 2_000
        )
        assert pledge(db.sessions, request, RULES, key=f"bench-{workers}-{index}").ok

    return _rate(workers, count, one)


def floor_per_second(db: Database, workers: int, count: int) -> float:
    def one(index: int) -> None:
        with transaction(db.sessions) as session:
            session.execute(
                insert(Operation).values(
                    key=f"floor-{workers}-{index}",
                    kind="floor",
                    fingerprint="",
                    result={},
                    created_at=utcnow(),
                )
            )

    return _rate(workers, count, one)


def _rate(workers: int, count: int, one: object) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(count)))  # type: ignore[arg-type]
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pledges", type=int, default=2_000)
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print("| database | workers | pledges/s | floor tx/s | share of floor |")
    print("|---|---:|---:|---:|---:|")
    for kind in kinds:
        with fresh_database(kind) as (db, _url):
            lenders = [make_lender(db) for _ in range(64)]
            projects = [make_project(db, 10**9) for _ in range(16)]
            for workers in (1, 8):
                rate = pledges_per_second(db, workers, args.pledges, lenders, projects)
                floor = floor_per_second(db, workers, args.pledges)
                print(
                    f"| {kind} | {workers} | {rate:,.0f} | {floor:,.0f} | {rate / floor:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
