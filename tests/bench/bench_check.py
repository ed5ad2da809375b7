"""`microlend check` on a million pledges, next to the floor of one scan of what it reads.

Run: .venv/bin/python tests/bench/bench_check.py [--pledges 1000000]

Builds, set-based in PostgreSQL, a consistent programme: 100,000 lenders, 10,000 funded
projects of 100 pledges each, every pledge's two postings (payroll out, outstanding in), the
balances and the monthly new money they add up to. Then times the command operators run,
`microlend check` (a subprocess, as from cron), and a floor in the same database: one pass of
aggregates over the postings and the pledges (the rows the reconciliation must read). Bar:
under 30 s for a million pledges.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storage.db.engine import make_engine  # noqa: E402
from storage.db.migrate import upgrade  # noqa: E402
from tests.bench.commands import microlend  # noqa: E402
from tests.conftest import POSTGRES_URL  # noqa: E402

PER_PROJECT = 100
PER_LENDER = 10

BUILD = [
    "INSERT INTO workspaces (id, org_key, team_id, active) VALUES (1, 'TBENCH', 'TBENCH', true)",
    "INSERT INTO partners (id, external_id, name, country) VALUES (1, 'p', 'Partner', 'Peru')",
    """INSERT INTO lenders (id, workspace_id, slack_user_id, display_name, tz, notify_mode,
         work_start_minute, work_end_minute, work_days, autolend, relend_count, created_at)
       SELECT n, 1, 'U' || n, '', 'UTC', 'as_it_happens', 540, 1080, 31, false, 0, now()
       FROM generate_series(1, :lenders) AS n""",
    # After the programme's own accounts, 100 + 4n - 3 .. 100 + 4n are lender n's available,
    # committed, outstanding and payroll.
    """INSERT INTO accounts (id, lender_id, kind, balance)
       SELECT 100 + 4 * n - 4 + k, n,
              (ARRAY['available', 'committed', 'outstanding', 'payroll'])[k], 0
       FROM generate_series(1, :lenders) AS n, generate_series(1, 4) AS k""",
    """INSERT INTO projects (id, reference, source, external_id, partner_id, borrower, purpose,
         country_code, country, sector, activity, borrower_genders, borrower_count, women_count,
         amount, funded, repaid, lost, term_months, repayment_interval, status, deadline,
         funded_at, tags)
       SELECT n, 'B' || n, 'bench', 'b' || n, 1, 'Borrower', 'to grow', 'PE', 'Peru', 'Retail',
              'Shop', 'female', 1, 1, :per_project * 2500, :per_project * 2500, 0, 0, 12,
              'monthly', 'funded', now(), now(), ''
       FROM generate_series(1, :projects) AS n""",
    """INSERT INTO pledges (id, lender_id, project_id, amount, from_credit, from_payroll,
         repaid, is_relend, refunded, created_at)
       SELECT n, 1 + (n % :lenders), 1 + (n - 1) / :per_project, 2500, 0, 2500, 0, false,
              false, '2026-03-02 10:00'
       FROM generate_series(1, :pledges) AS n""",
    """INSERT INTO ledger_transactions (id, kind, created_at)
       SELECT n, 'pledge', now() FROM generate_series(1, :projects) AS n""",
    """INSERT INTO postings (transaction_id, account_id, amount, pledge_id)
       SELECT p.project_id, 100 + 4 * p.lender_id - 4 + leg.k, leg.sign * p.amount, p.id
       FROM pledges p, (VALUES (3, 1), (4, -1)) AS leg (k, sign)""",
    """UPDATE accounts SET balance = sums.total
       FROM (SELECT account_id, sum(amount) AS total FROM postings GROUP BY account_id) AS sums
       WHERE accounts.id = sums.account_id""",
    """INSERT INTO lender_months (lender_id, month, new_money)
       SELECT lender_id, '2026-03', sum(from_payroll) FROM pledges GROUP BY lender_id""",
    "ANALYZE",
]
FLOOR = """SELECT (SELECT count(*) FROM (SELECT pledge_id, sum(amount) FROM postings
                                        GROUP BY pledge_id) AS per_pledge),
                  (SELECT count(*) FROM (SELECT lender_id, sum(amount) FROM pledges
                                        GROUP BY lender_id) AS per_lender)"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pledges", type=int, default=1_000_000)
    pledges = parser.parse_args().pledges
    projects = pledges // PER_PROJECT
    lenders = pledges // PER_LENDER
    schema = f"bench_check_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        sizes = {"lenders": lenders, "projects": projects, "pledges": pledges}
        with engine.begin() as connection:
            for statement in BUILD:
                connection.execute(text(statement), sizes | {"per_project": PER_PROJECT})
        print(f"built {pledges:,} pledges in {time.perf_counter() - started:.1f} s")
        floor = _timed_floor(engine)
        check = _timed_check(url)
        print("| pledges | microlend check | floor (one scan) | ratio | bar |")
        print("|---:|---:|---:|---:|---:|")
        print(f"| {pledges:,} | {check:.1f} s | {floor:.1f} s | {check / floor:.1f} | 30 s |")
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _timed_floor(engine: object) -> float:
    assert hasattr(engine, "connect")
    with engine.connect() as connection:
        started = time.perf_counter()
        connection.execute(text(FLOOR)).one()
        return time.perf_counter() - started


def _timed_check(url: str) -> float:
    done = microlend(url, "check")
    print(done.stdout.strip() or done.stderr.strip())
    if done.returncode != 0:
        raise SystemExit("the generated programme should reconcile")
    return done.seconds


if __name__ == "__main__":
    main()
