"""The concurrency model at size, in processes that get killed, then `microlend check`.

Run: .venv/bin/python tests/bench/bench_concurrency.py [--db sqlite|postgres|both]
     [--processes 3] [--operations 1500] [--kills 3]

``tests/storage/concurrency_model.py`` set up with 2,000 lenders and 300 projects, then
``--processes`` worker processes at once, each running its own seeded mix of every money
operation on 4 threads. While they run, a worker is killed (SIGKILL, mid-transaction as like as
not) ``--kills`` times and replaced by a fresh one with another seed. At the end the operator's
``microlend check`` runs on the database: the bar is that it finds nothing (exit 0), and that
no worker that was not killed died of an exception. The floor is the same check on the
database as it was before any worker ran, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from storage.db.database import Database  # noqa: E402
from storage.db.engine import make_engine  # noqa: E402
from tests.bench.commands import microlend  # noqa: E402
from tests.bench.scratch import scratch_database  # noqa: E402
from tests.storage.concurrency_model import set_up  # noqa: E402

START = datetime(2026, 3, 2, 10, 0)
LENDERS = 2_000
PROJECTS = 300
THREADS = 4
WORKER = """
import json, sys
from datetime import datetime
from storage.db.database import Database
from storage.db.engine import make_engine
from tests.storage.concurrency_model import load, run_mix

url, start, worker, operations, threads = sys.argv[1:6]
db = Database.on(make_engine(url))
programme = load(db, start=datetime.fromisoformat(start), worker=int(worker))
tally = run_mix(programme, operations=int(operations), threads=int(threads), seed=int(worker))
print(json.dumps(tally.operations))
"""


@dataclass(frozen=True)
class Outcome:
    database: str
    finished: int
    operations: int
    killed: int
    check_ok: bool
    check_seconds: float
    floor_seconds: float
    total_seconds: float
    report: str


def worker(url: str, number: int, operations: int) -> subprocess.Popen[str]:
    arguments = [url, START.isoformat(), str(number), str(operations), str(THREADS)]
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *arguments],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def microlend_check(url: str) -> tuple[bool, float, str]:
    done = microlend(url, "check")
    return done.returncode == 0, done.seconds, done.stdout + done.stderr


def run(kind: str, processes: int, operations: int, kills: int) -> Outcome:
    rng = random.Random(2026)
    with scratch_database(kind, "bench_concurrency") as url:
        db = Database.on(make_engine(url))
        set_up(db, lenders=LENDERS, projects=PROJECTS, start=START)
        db.dispose()
        floor = microlend_check(url)[1]
        started = time.perf_counter()
        running = [worker(url, number, operations) for number in range(processes)]
        next_number = processes
        for _ in range(kills):
            time.sleep(rng.uniform(2.0, 6.0))
            alive = [process for process in running if process.poll() is None]
            if not alive:
                break
            victim = rng.choice(alive)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            running.remove(victim)
            running.append(worker(url, next_number, operations))
            next_number += 1
        killed = next_number - processes
        done = 0
        for process in running:
            stdout, stderr = process.communicate(timeout=1_800)
            if process.returncode != 0:
                raise SystemExit(f"a worker that was not killed failed:\n{stderr}")
            done += int(json.loads(stdout))
        total = time.perf_counter() - started
        ok, seconds, report = microlend_check(url)
    return Outcome(kind, len(running), done, killed, ok, seconds, floor, total, report.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--operations", type=int, default=1_500)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(
        "| database | workers x threads | killed | operations finished | mix s "
        "| microlend check | check s | floor s (check before) |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    failed = False
    for kind in kinds:
        o = run(kind, args.processes, args.operations, args.kills)
        verdict = "nothing found" if o.check_ok else "BROKEN"
        print(
            f"| {o.database} | {args.processes} x {THREADS} | {o.killed} | {o.operations:,} "
            f"| {o.total_seconds:.0f} | {verdict} | {o.check_seconds:.2f} "
            f"| {o.floor_seconds:.2f} |",
            flush=True,
        )
        if not o.check_ok:
            print(o.report)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
