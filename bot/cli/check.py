"""The reconciliation, for operators: `microlend check`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.cli.common import Subcommands, command, counted, opened, word

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
        help="rows shown for each broken rule",
    )


def _check(args: argparse.Namespace) -> int:
    from storage.ledger.reconciliation import reconcile

    with opened() as (_settings, database), database.reads() as session:
        found = reconcile(session, shown=max(args.rows, 0))
    if found.ok:
        print(f"The books reconcile: all {len(found.checked)} rules hold.")
        return 0
    count = len(found.broken)
    print(f"{count} of {counted(len(found.checked), 'rule')} {word(count, 'is', 'are')} broken:")
    for broken in found.broken:
        print(_described(broken))
    return 1


def _described(broken: Broken) -> str:
    rows = counted(broken.count, "row breaks", "rows break")
    lines = [f"\n{broken.rule.name}: {broken.rule.promise}", f"  {rows} it"]
    if broken.rows:
        lines.append("  " + " | ".join(broken.columns))
        lines += ["  " + " | ".join(str(value) for value in row) for row in broken.rows]
    if len(broken.rows) < broken.count:
        lines.append(f"  ... and {broken.count - len(broken.rows):,} more")
    return "\n".join(lines)
