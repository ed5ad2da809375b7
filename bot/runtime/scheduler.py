"""APScheduler 3 in the app process: every job of ``bot.runtime.jobs`` on its cron schedule.

With several app instances on PostgreSQL only the holder of a session-level advisory lock runs
the ticks; the lock lives on a connection this scheduler keeps, so if the holder dies its lock
goes with its connection and another instance takes over at its next tick. The ticks are keyed
by period, so a tick that two instances run anyway, or one that a restart missed, is harmless.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from bot.runtime.jobs import JOBS, JobContext, JobSchedule, run_job

logger = logging.getLogger(__name__)

# "microlnd" in ASCII: one fixed key for the whole deployment.
ADVISORY_LOCK_KEY = 0x6D6963726F6C6E64
# Whether this very session holds the lock: a bigint key is shown as its two halves.
STILL_HELD = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND objsubid = 1"
    " AND ((classid::bigint << 32) | objid::bigint) = :key)"
)


class Leadership:
    """Whether this instance runs the jobs: always on SQLite, the lock holder on PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def held(self) -> bool:
        """Asked before every tick: a lock whose session died (a restart, a failover, an
        idle-session kill) is gone, though the Python connection object still looks open."""
        if self._engine.dialect.name != "postgresql":
            return True
        with self._lock:
            if self._connection is not None and self._still_held(self._connection):
                return True
            self._forget()
            connection = self._engine.connect()
            won = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            ).scalar_one()
            connection.commit()
            if won:
                self._connection = connection
            else:
                connection.close()
            return bool(won)

    @staticmethod
    def _still_held(connection: Connection) -> bool:
        try:
            held = connection.execute(STILL_HELD, {"key": ADVISORY_LOCK_KEY}).scalar_one()
            connection.commit()
        except DBAPIError:
            logger.warning("the scheduler's lock session is gone; asking for the lock again")
            return False
        return bool(held)

    def _forget(self) -> None:
        if self._connection is not None:
            # Closing a dead connection can fail too; it is being dropped either way.
            with contextlib.suppress(DBAPIError):
                self._connection.close()
            self._connection = None

    def release(self) -> None:
        with self._lock:
            if self._connection is not None:
                # The pool keeps the session open, so the lock must be given back explicitly.
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                self._connection.commit()
                self._connection.close()
                self._connection = None


def _guarded(ctx: JobContext, leadership: Leadership, name: str) -> None:
    if not leadership.held():
        return
    try:
        run = run_job(ctx, name)
    except Exception:
        # One failed tick must not stop the scheduler; the next tick catches up.
        logger.exception("job %s failed", name)
        return
    logger.info("job %s: %s", name, run.result)


def build_scheduler(
    ctx: JobContext, engine: Engine, schedule: JobSchedule | None = None
) -> tuple[BackgroundScheduler, Leadership]:
    """A (not yet started) scheduler with every job, and the leadership it consults."""
    schedule = schedule or JobSchedule()
    leadership = Leadership(engine)
    scheduler = BackgroundScheduler(timezone="UTC")
    for name in JOBS:
        scheduler.add_job(
            _guarded,
            schedule.trigger(name),
            args=(ctx, leadership, name),
            id=name,
            name=name,
            # A late tick runs once, not once per missed slot: the ticks catch up by themselves.
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
    return scheduler, leadership
