"""An operator command as an operator runs it: its own process, timed from start to exit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The `microlend` console script's own two lines, then the process's peak resident set. Linux
# carries ru_maxrss over fork and exec from the parent (the benchmark, holding its data set);
# VmHWM belongs to the new address space alone.
MICROLEND = """
import sys
from bot.cli import main
try:
    code = main(sys.argv[1:])
finally:
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(peak.split()[1], file=sys.stderr)
sys.exit(code)
"""


@dataclass(frozen=True)
class Run:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_mib: float


def microlend(database_url: str, *argv: str) -> Run:
    """``microlend ARGV`` on the database at ``database_url``, with no other settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MICROLEND_", "SLACK_"))}
    env["DATABASE_URL"] = database_url
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MICROLEND, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    *errors, peak_kib = done.stderr.splitlines() or ["0"]
    return Run(elapsed, done.returncode, done.stdout, "\n".join(errors), int(peak_kib) / 1024)
