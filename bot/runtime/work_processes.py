"""Bolt's lazy listeners, run in worker processes, so that acks never wait behind answers.

Python runs one thread at a time per process. Were answers worked out beside the HTTP threads,
an ack would wait for the interpreter lock while other people's pages are queried and
rendered; under load that wait is most of its latency. So the serving process only verifies,
acks and hands the request on, as Bolt's AWS Lambda adapter does: a worker process dispatches it
again as *lazy only*, which runs just the named lazy function: an answer registered through
`handlers/acks.py` (/lend, the buttons, the Home tab, a circle's welcome). Modal submissions
answer in their ack and stay in the serving process.

Workers trust what they are given: the serving process verified the signature, and their only
input is the pool's pipe. A worker that dies loses the answer it was working on, as a thread
would; the pool starts another in its place.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner

from bot.runtime.app import create_app, services_for
from bot.runtime.settings import Settings
from storage.db.database import open_database

logger = logging.getLogger(__name__)

WORKER_NICENESS = 10
LAZY_ONLY = "x-slack-bolt-lazy-only"
LAZY_FUNCTION = "x-slack-bolt-lazy-function-name"


@dataclass(frozen=True)
class LazyRequest:
    """What a worker needs to dispatch a request again: plain data that pickles."""

    body: str | dict[str, Any]
    headers: dict[str, Sequence[str]]
    mode: str
    function: str

    @classmethod
    def of(cls, request: BoltRequest) -> LazyRequest:
        body = request.raw_body if request.mode == "http" else request.body
        assert request.lazy_function_name is not None  # Bolt names it before `start`
        return cls(body, dict(request.headers), request.mode, request.lazy_function_name)

    def to_bolt(self) -> BoltRequest:
        headers: dict[str, str | Sequence[str]] = {
            **self.headers,
            LAZY_ONLY: ["1"],
            LAZY_FUNCTION: [self.function],
        }
        return BoltRequest(body=self.body, headers=headers, mode=self.mode)


class ProcessLazyListenerRunner(LazyListenerRunner):
    """Starts each lazy function in a pool of worker processes, each with its own app."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.logger = logger
        context = multiprocessing.get_context("spawn")  # never fork a process with threads
        self.pool: Pool = context.Pool(processes, _start_worker, (settings,))

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        self.pool.apply_async(_dispatch, (LazyRequest.of(request),), error_callback=_log)

    def close(self) -> None:
        """Finish the answers already handed on, then stop the workers."""
        self.pool.close()
        self.pool.join()


def run_lazy_in_processes(app: App, settings: Settings) -> ProcessLazyListenerRunner | None:
    """Give `app` worker processes for its lazy listeners, as `settings` asks (0: threads)."""
    if settings.work_processes == 0:
        return None
    runner = ProcessLazyListenerRunner(settings, settings.work_processes)
    app.listener_runner.lazy_listener_runner = runner
    return runner


_worker_app: App | None = None


def _start_worker(settings: Settings) -> None:
    global _worker_app
    # Answers may wait; acks may not. A lower priority lets the serving process go first.
    os.nice(WORKER_NICENESS)
    # The serving process has migrated the database already; workers only connect.
    db = open_database(settings.database_url, auto_upgrade=False)
    _worker_app = create_app(settings, services_for(settings, db), verify_requests=False)


def _dispatch(request: LazyRequest) -> None:
    assert _worker_app is not None, "the pool's initializer builds the app"
    _worker_app.dispatch(request.to_bolt())


def _log(error: BaseException) -> None:
    logger.error("a worker process could not answer", exc_info=error)
