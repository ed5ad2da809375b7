"""Home tab for a lender with many loans: time to build it and SQL statements it takes.

Run: .venv/bin/python tests/bench/bench_home.py

Builds the Home view (the queries and the template, not the Slack call) for a lender with
50 and with 500 loans, counting statements with a `before_cursor_execute` listener. The bar:
the count must not grow with the number of loans.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import event, insert

from handlers.context import Services
from handlers.replies import home_view
from storage.db.clock import utcnow
from storage.db.database import Database, open_database
from storage.lending.lenders import SlackIdentity
from storage.lending.models import Pledge
from storage.lending.rules import LendingRules
from tests.factories import make_lender, make_project

ROUNDS = 20


def seeded(directory: Path, loans: int) -> tuple[Database, SlackIdentity]:
    db = open_database(f"sqlite:///{directory}/home-{loans}.db")
    identity = SlackIdentity(f"U{loans:08d}", "T0BENCH")
    lender_id = make_lender(db, identity.user_id, team_id="T0BENCH")
    projects = [make_project(db, amount=10_000) for _ in range(loans)]
    rows = [
        {
            "lender_id": lender_id,
            "project_id": project_id,
            "amount": 2_000,
            "from_credit": 0,
            "from_payroll": 2_000,
            "repaid": 0,
            "is_relend": False,
            "refunded": False,
            "created_at": utcnow(),
        }
        for project_id in projects
    ]
    with db.sessions() as session, session.begin():
        session.execute(insert(Pledge), rows)
    return db, identity


def measure(db: Database, identity: SlackIdentity) -> tuple[float, float, int, int]:
    services = Services(db=db, rules=LendingRules())
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    home_view(services, identity)  # warm the template cache and the connection pool
    event.listen(db.engine, "before_cursor_execute", count)
    timings = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        view = home_view(services, identity)
        timings.append((time.perf_counter() - start) * 1000)
    event.remove(db.engine, "before_cursor_execute", count)
    timings.sort()
    return statistics.median(timings), timings[-1], len(statements) // ROUNDS, len(view["blocks"])


def main() -> int:
    print(f"{'loans':>6} {'median ms':>10} {'max ms':>8} {'SQL statements':>15} {'blocks':>7}")
    counts = []
    with tempfile.TemporaryDirectory() as directory:
        for loans in (50, 500):
            db, identity = seeded(Path(directory), loans)
            median, worst, statements, blocks = measure(db, identity)
            counts.append(statements)
            print(f"{loans:>6} {median:>10.1f} {worst:>8.1f} {statements:>15} {blocks:>7}")
            db.dispose()
    flat = counts[0] == counts[1]
    print("statements do not grow with loans" if flat else "FAIL: statements grow with loans")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
