"""The reconciliation, for operators: `microlend check`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.cli.common import Subcommands, command, opened

if TYPE_CHECKING:
    from storage.ledger.reconciliation import Broken

SHOWN = 20


def add(commands: Subcommands) -> None:
    check = command(
        commands,
        "check",
        "Prove the books agree with the rows they come from; exit 1 if any rule is broken.",
        _check,
    )
    check.add_argument(
        "--rows",
        type=int,
        default=SHOWN,
        metavar="N",
        help=f"rows shown for each broken rule (default {SHOWN})",
    )


def _check(args: argparse.Namespace) -> int:
    from storage.ledger.reconciliation import reconcile

    with opened() as (_settings, database), database.reads() as session:
        found = reconcile(session, shown=max(args.rows, 0))
    if found.ok:
        print(f"The books reconcile: all {len(found.checked)} rules hold.")
        return 0
    print(f"{len(found.broken)} of {len(found.checked)} rules are broken:")
    for broken in found.broken:
        print(_described(broken))
    return 1


def _described(broken: Broken) -> str:
    rows = "row breaks" if broken.count == 1 else "rows break"
    lines = [f"\n{broken.rule.name}: {broken.rule.promise}", f"  {broken.count:,} {rows} it"]
    if broken.rows:
        lines.append("  " + " | ".join(broken.columns))
        lines += ["  " + " | ".join(str(value) for value in row) for row in broken.rows]
    if len(broken.rows) < broken.count:
        lines.append(f"  ... and {broken.count - len(broken.rows):,} more")
    return "\n".join(lines)
