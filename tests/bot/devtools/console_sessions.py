"""Scripted console sessions: input lines in, the transcript out."""

from __future__ import annotations

import io
from datetime import datetime

from bot.devtools.console import run_console
from bot.devtools.console_slack import ConsoleClock
from bot.runtime.settings import Settings

# 05:00 in Lima, where Ana (the first simulated user) lives, so her DMs wait for her working
# hours; 17:00 in Phnom Penh, where Chen's are open.
WEDNESDAY_10AM = datetime(2026, 1, 7, 10, 0)


def session(
    database_url: str,
    *lines: str,
    admins: frozenset[str] = frozenset(),
    start: datetime | None = WEDNESDAY_10AM,
) -> str:
    """Run the console on these input lines; the transcript it printed. ``start=None`` lets
    the console choose its time, as `microlend console` does."""
    out = io.StringIO()
    settings = Settings(database_url=database_url, admins=admins)
    status = run_console(
        settings,
        stdin=io.StringIO("".join(line + "\n" for line in lines)),
        stdout=out,
        clock=ConsoleClock(start) if start else None,
    )
    assert status == 0
    return out.getvalue()
