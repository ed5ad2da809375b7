"""Bolt's lazy listeners, run in worker processes, so that acks never wait behind answers.

Python runs one thread at a time per process. Were answers worked out beside the HTTP threads,
an ack would wait for the interpreter lock while other people's pages are queried and
rendered; under load that wait is most of its latency. So the serving process only verifies,
acks and hands the request on, as Bolt's AWS Lambda adapter does: a worker process dispatches it
again as *lazy only*, which runs just the named lazy function: an answer registered through
`handlers/acks.py` (/lend, the buttons, the Home tab, a circle's welcome). Modal submissions
answer in their ack and stay in the serving process.

Workers trust what they are given: the serving process verified the signature, and their only
input is the pool's pipe. A worker that dies loses no answer: the work was written down before
the ack, and is taken over once its lease runs out (``bot.runtime.accepted_work``); the pool
starts another worker in its place.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from datetime import datetime
from multiprocessing.pool import Pool

from slack_bolt import App, BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.accepted_work import LazyRequest, keep, left_behind
from bot.runtime.app import create_app, services_for
from bot.runtime.settings import Settings
from storage.db.database import Database, open_database
from storage.db.inbox import finish

logger = logging.getLogger(__name__)

WORKER_NICENESS = 10


class ProcessLazyListenerRunner(LazyListenerRunner):
    """Starts each lazy function in a pool of worker processes, each with its own app; the
    work is written down first (``bot.runtime.accepted_work``) and the worker crosses it off."""

    def __init__(self, settings: Settings, processes: int, factory: sessionmaker[Session]) -> None:
        self.logger = logger
        self.factory = factory
        context = multiprocessing.get_context("spawn")  # never fork a process with threads
        self.pool: Pool = context.Pool(processes, _start_worker, (settings,))

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        work_id = keep(self.factory, request)
        self._hand_on(LazyRequest.of(request), work_id)

    def recover(self, now: datetime | None = None) -> int:
        """Hand on what other processes left behind; how many."""
        found = left_behind(self.factory, now)
        for lazy, work_id in found:
            self._hand_on(lazy, work_id)
        return len(found)

    def _hand_on(self, lazy: LazyRequest, work_id: int) -> None:
        self.pool.apply_async(_dispatch, (lazy, work_id), error_callback=_log)

    def close(self) -> None:
        """Finish the answers already handed on, then stop the workers."""
        self.pool.close()
        self.pool.join()


def run_lazy_in_processes(
    app: App, settings: Settings, factory: sessionmaker[Session]
) -> ProcessLazyListenerRunner | None:
    """Give `app` worker processes for its lazy listeners, as `settings` asks (0: threads)."""
    if settings.work_processes == 0:
        return None
    runner = ProcessLazyListenerRunner(settings, settings.work_processes, factory)
    app.listener_runner.lazy_listener_runner = runner
    return runner


_worker_app: App | None = None
_worker_db: Database | None = None


def _start_worker(settings: Settings) -> None:
    global _worker_app, _worker_db
    # Answers may wait; acks may not. A lower priority lets the serving process go first.
    os.nice(WORKER_NICENESS)
    # The serving process has migrated the database already; workers only connect.
    _worker_db = open_database(settings.database_url, auto_upgrade=False)
    services = services_for(settings, _worker_db)
    _worker_app = create_app(settings, services, verify_requests=False)


def _dispatch(request: LazyRequest, work_id: int) -> None:
    assert _worker_app is not None and _worker_db is not None, "the pool's initializer ran"
    try:
        _worker_app.dispatch(request.to_bolt())
    finally:
        finish(_worker_db.sessions, work_id)


def _log(error: BaseException) -> None:
    logger.error("a worker process could not answer", exc_info=error)
