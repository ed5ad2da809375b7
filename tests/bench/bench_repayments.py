"""Repayment distribution at scale, next to the floor of a plain INSERT ... SELECT.

Run: .venv/bin/python tests/bench/bench_repayments.py [--db sqlite|postgres|both]

10,000 funded projects with 250,000 pledges (25 each) receive one instalment each, recorded
as one round by ``record_repayments``: shares computed set-based, two postings per share,
balances, pledges and projects updated, one outbox row per lender. The floor is a single
INSERT ... SELECT writing the same number of posting rows (two per pledge), committed, in the
same database in the same run. Peak Python memory is measured at 25,000 and at 250,000 pledges.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import delete, func, insert, literal, select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from storage.db.clock import utcnow
from storage.db.database import Database
from storage.db.engine import make_engine
from storage.installations.models import Workspace
from storage.ledger.models import Account, AccountKind, LedgerTransaction, Posting
from storage.ledger.postings import move_pledges, new_transaction, post_rows
from storage.lending.models import Lender, Pledge
from storage.lending.rules import LendingRules
from storage.projects.models import Partner, Project, ProjectStatus, RepaymentInterval
from storage.repayments.recording import RepaymentInput, record_repayments
from tests.bench.scratch import scratch_database

PLEDGES_PER_PROJECT = 25
LENDERS_PER_PLEDGE = 0.4  # 250,000 pledges from 100,000 lenders


@dataclass(frozen=True)
class Measure:
    database: str
    pledges: int
    seconds: float
    floor_seconds: float
    peak_mib: float

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor_seconds


@contextmanager
def fresh_database(kind: str) -> Iterator[tuple[Database, str]]:
    """A migrated scratch database (``scratch_database``) opened, and its URL for commands."""
    with scratch_database(kind, "bench") as url:
        db = Database.on(make_engine(url))
        try:
            yield db, url
        finally:
            db.dispose()


def populate(db: Database, projects: int) -> list[RepaymentInput]:
    """Funded projects, their lenders and pledges, and the ledger that funded them."""
    rng = random.Random(7)
    now = utcnow()
    pledges = projects * PLEDGES_PER_PROJECT
    lenders = max(int(pledges * LENDERS_PER_PLEDGE), 1)
    with db.sessions() as session, session.begin():
        workspace = Workspace(org_key="TBENCH", team_id="TBENCH", active=True)
        partner = Partner(external_id="bench", name="Bench MFI", country="Peru")
        session.add_all([workspace, partner])
        session.flush()
        session.execute(
            insert(Lender),
            [
                {"workspace_id": workspace.id, "slack_user_id": f"U{i:08d}", "created_at": now}
                for i in range(lenders)
            ],
        )
        lender_ids = list(session.execute(select(Lender.id)).scalars())
        session.execute(
            insert(Account),
            [
                {"lender_id": lender_id, "kind": kind, "balance": 0}
                for lender_id in lender_ids
                for kind in (
                    AccountKind.AVAILABLE,
                    AccountKind.COMMITTED,
                    AccountKind.OUTSTANDING,
                    AccountKind.PAYROLL,
                )
            ],
        )
        amounts = [
            [rng.randint(20, 120) * 100 + rng.choice((0, 50)) for _ in range(PLEDGES_PER_PROJECT)]
            for _ in range(projects)
        ]
        session.execute(
            insert(Project),
            [_project(number, partner.id, sum(split), now) for number, split in enumerate(amounts)],
        )
        project_ids = list(session.execute(select(Project.id).order_by(Project.id)).scalars())
        session.execute(
            insert(Pledge),
            [
                {
                    "lender_id": rng.choice(lender_ids),
                    "project_id": project_id,
                    "amount": amount,
                    "from_credit": 0,
                    "from_payroll": amount,
                    "repaid": 0,
                    "is_relend": False,
                    "refunded": False,
                    "created_at": now,
                }
                for project_id, split in zip(project_ids, amounts, strict=True)
                for amount in split
            ],
        )
        post_rows(
            session,
            "bench-funding",
            move_pledges(
                Pledge.id > 0, Pledge.amount, AccountKind.PAYROLL, AccountKind.OUTSTANDING
            ),
            now=now,
        )
    return [
        RepaymentInput(
            project_id, max(sum(split) // 12, 1), date(2026, 11, 1), f"bench-{project_id}"
        )
        for project_id, split in zip(project_ids, amounts, strict=True)
    ]


def _project(number: int, partner_id: int, amount: int, now: object) -> dict[str, object]:
    return {
        "reference": f"B{number}",
        "source": "partner:bench",
        "external_id": f"bench-{number}",
        "partner_id": partner_id,
        "borrower": f"Borrower {number}",
        "purpose": "to buy stock",
        "country_code": "PE",
        "country": "Peru",
        "sector": "Retail",
        "activity": "General store",
        "amount": amount,
        "funded": amount,
        "repaid": 0,
        "lost": 0,
        "term_months": 12,
        "repayment_interval": RepaymentInterval.MONTHLY,
        "status": ProjectStatus.FUNDED,
        "funded_at": now,
        "deadline": now + timedelta(days=30),  # type: ignore[operator]
    }


def floor_seconds(db: Database) -> float:
    """One INSERT ... SELECT of two posting rows per pledge, committed (a write is not done
    until it is), then removed again outside the timing."""
    with db.sessions() as session:
        session.begin()
        transaction_id = new_transaction(session, "floor", now=utcnow())
        session.commit()
        rows = move_pledges(
            Pledge.id > 0, Pledge.amount, AccountKind.OUTSTANDING, AccountKind.AVAILABLE
        ).subquery()
        session.begin()
        started = time.perf_counter()
        session.execute(
            insert(Posting).from_select(
                ["transaction_id", "account_id", "amount", "pledge_id"],
                select(literal(transaction_id), *rows.c),
            )
        )
        session.commit()
        elapsed = time.perf_counter() - started
        session.begin()
        session.execute(delete(Posting).where(Posting.transaction_id == transaction_id))
        session.execute(delete(LedgerTransaction).where(LedgerTransaction.id == transaction_id))
        session.commit()
    return elapsed


def measure(kind: str, projects: int) -> Measure:
    with fresh_database(kind) as (db, _url):
        items = populate(db, projects)
        floor = floor_seconds(db)
        started = time.perf_counter()
        result = record_repayments(db.sessions, items, LendingRules())
        elapsed = time.perf_counter() - started
        assert result.recorded == projects and not result.refused
        # Memory is traced on a second instalment, since tracing slows the timed one.
        second = [replace(item, reference=f"{item.reference}-2") for item in items]
        tracemalloc.start()
        assert record_repayments(db.sessions, second, LendingRules()).recorded == projects
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        with db.sessions() as session:
            written = session.execute(select(func.count()).select_from(Posting)).scalar_one()
            assert written >= 4 * projects * PLEDGES_PER_PROJECT
        return Measure(kind, projects * PLEDGES_PER_PROJECT, elapsed, floor, peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print("| database | pledges | distribution s | floor s | ratio (bar ≤ 2.0) | peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in kinds:
        for projects in (1_000, 10_000):
            m = measure(kind, projects)
            print(
                f"| {m.database} | {m.pledges:,} | {m.seconds:.2f} | {m.floor_seconds:.2f} "
                f"| {m.ratio:.2f} | {m.peak_mib:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
