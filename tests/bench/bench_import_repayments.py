"""`microlend import repayments FILE` as an operator runs it, next to the floor of a plain
INSERT ... SELECT.

Run: .venv/bin/python tests/bench/bench_import_repayments.py [--db sqlite|postgres|both]

The data set of ``bench_repayments.py``: 10,000 funded projects with 250,000 pledges (25 each),
and a partner's report of one instalment for every project. The command runs in its own
process (``.venv/bin/microlend`` with DATABASE_URL naming the benchmark's database) and is timed
from start to exit: interpreter start-up, reading and checking the file, resolving its projects,
sharing the round and committing. The floor is the one of ``bench_repayments.py``: a single
committed INSERT ... SELECT of the postings the round writes (two per pledge), in the same
database in the same run. Peak memory is the command's own peak resident set (VmHWM), at 25,000
and at 250,000 pledges. Start-up is ``microlend --help`` alone, for scale.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, select, text  # noqa: E402

from storage.db.clock import utcnow  # noqa: E402
from storage.db.database import Database  # noqa: E402
from storage.finance.exports import decimal_text  # noqa: E402
from storage.projects.models import Project  # noqa: E402
from storage.repayments.recording import RepaymentInput  # noqa: E402
from tests.bench.bench_repayments import (  # noqa: E402
    PLEDGES_PER_PROJECT,
    Measure,
    floor_seconds,
    fresh_database,
    populate,
)
from tests.bench.commands import microlend  # noqa: E402


@dataclass(frozen=True)
class ImportMeasure(Measure):
    """The distribution benchmark's measure, with the command's start-up alone beside it."""

    startup_seconds: float = 0.0


def write_report(db: Database, items: list[RepaymentInput], path: Path) -> None:
    """The partner's report: one instalment per project, named by its reference, dated today
    (the projects were funded today)."""
    with db.sessions() as session:
        references = dict(session.execute(select(Project.id, Project.reference)).all())
    today = utcnow().date().isoformat()
    with path.open("w", encoding="utf-8") as out:
        out.write("project,amount,date,reference\n")
        for item in items:
            out.write(
                f"{references[item.project_id]},{decimal_text(item.amount)},{today},"
                f"{item.reference}\n"
            )


def measure(kind: str, projects: int) -> ImportMeasure:
    with fresh_database(kind) as (db, url):
        items = populate(db, projects)
        report = Path(tempfile.mkdtemp()) / "report.csv"
        write_report(db, items, report)
        startup = microlend(url, "--help").seconds
        floor = floor_seconds(db)
        done = microlend(url, "import", "repayments", str(report))
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"Loaded {projects:,} repayments; 0 unchanged; 0 skipped.\n", done
        assert_repaid(db.engine, items)
        pledges = projects * PLEDGES_PER_PROJECT
        return ImportMeasure(kind, pledges, done.seconds, floor, done.peak_mib, startup)


def assert_repaid(engine: Engine, items: list[RepaymentInput]) -> None:
    with engine.connect() as connection:
        repaid = connection.execute(text("SELECT SUM(repaid) FROM projects")).scalar_one()
        shared = connection.execute(text("SELECT SUM(repaid) FROM pledges")).scalar_one()
    assert repaid == shared == sum(item.amount for item in items), (repaid, shared)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(
        "| database | pledges | instalments | import s | floor s | ratio (bar ≤ 2.0) "
        "| start-up s | peak RSS MiB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in kinds:
        for projects in (1_000, 10_000):
            m = measure(kind, projects)
            print(
                f"| {m.database} | {m.pledges:,} | {projects:,} | {m.seconds:.2f} "
                f"| {m.floor_seconds:.2f} | {m.ratio:.2f} | {m.startup_seconds:.2f} "
                f"| {m.peak_mib:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
