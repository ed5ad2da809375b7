"""Work that was acknowledged survives the process that acknowledged it.

Slack's request is acked first and answered after (a Bolt lazy listener). Bolt hands the
answer to its lazy listener runner before the ack leaves, so the runners here first write the
request to the database (``storage.db.inbox``); whoever finishes it deletes the row. A process
that dies in between (a deploy, a crash, an OOM kill) leaves the row behind, and once its
lease has run out any instance takes it over and dispatches it again: the pledge a person
confirmed is made (once: its intent is the pledge's key) and their answer arrives through the
request's ``response_url``, valid for 30 minutes. Work that fails that way three times is
dropped and logged.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.lazy_listener import ThreadLazyListenerRunner
from slack_bolt.lazy_listener.internals import build_runnable_function
from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.inbox import Work, accept, finish, take_over

logger = logging.getLogger(__name__)

LAZY_ONLY = "x-slack-bolt-lazy-only"
LAZY_FUNCTION = "x-slack-bolt-lazy-function-name"
# How long accepted work is its process's own; answers take milliseconds to seconds.
LEASE = timedelta(minutes=1)
MAX_ATTEMPTS = 3
# How often a running instance looks for work that others left behind.
RECOVERY_SECONDS = 30.0


@dataclass(frozen=True)
class LazyRequest:
    """What a worker needs to dispatch a request again: plain data that pickles and is JSON."""

    body: str | dict[str, Any]
    headers: dict[str, Sequence[str]]
    mode: str
    function: str

    @classmethod
    def of(cls, request: BoltRequest) -> LazyRequest:
        body = request.raw_body if request.mode == "http" else request.body
        assert request.lazy_function_name is not None  # Bolt names it before `start`
        return cls(body, dict(request.headers), request.mode, request.lazy_function_name)

    @classmethod
    def of_work(cls, work: Work) -> LazyRequest:
        return cls(**work.payload)

    def to_bolt(self) -> BoltRequest:
        headers: dict[str, str | Sequence[str]] = {
            **self.headers,
            LAZY_ONLY: ["1"],
            LAZY_FUNCTION: [self.function],
        }
        return BoltRequest(body=self.body, headers=headers, mode=self.mode)


def keep(factory: sessionmaker[Session], request: BoltRequest) -> int:
    """Write down the work a request was acked for; its id travels with it."""
    payload = dataclasses.asdict(LazyRequest.of(request))
    return accept(factory, payload, now=utcnow(), lease=LEASE)


def left_behind(
    factory: sessionmaker[Session], now: datetime | None = None
) -> list[tuple[LazyRequest, int]]:
    """Work other processes left undone, now this one's; what failed too often is dropped."""
    found = []
    for work in take_over(factory, now=now or utcnow(), lease=LEASE):
        if work.attempts > MAX_ATTEMPTS:
            logger.error("gave up on accepted work %s after %s attempts", work.id, MAX_ATTEMPTS)
            finish(factory, work.id)
        else:
            logger.warning("taking over accepted work %s (attempt %s)", work.id, work.attempts)
            found.append((LazyRequest.of_work(work), work.id))
    return found


class ThreadWorkRunner(ThreadLazyListenerRunner):
    """Answers on this process's threads (the console, tests, MICROLEND_WORK_PROCESSES=0)."""

    def __init__(
        self,
        executor: Executor,
        factory: sessionmaker[Session],
        dispatch: Callable[[BoltRequest], BoltResponse],
    ) -> None:
        super().__init__(logger, executor)
        self.factory = factory
        self.dispatch = dispatch

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        work_id = keep(self.factory, request)
        run = build_runnable_function(func=function, logger=self.logger, request=request)
        self.executor.submit(self._run, run, work_id)

    def recover(self, now: datetime | None = None) -> int:
        """Dispatch again what was left behind; how many."""
        found = left_behind(self.factory, now)
        for lazy, work_id in found:
            self.executor.submit(self._run, partial(self.dispatch, lazy.to_bolt()), work_id)
        return len(found)

    def _run(self, run: Callable[[], object], work_id: int) -> None:
        try:
            run()
        finally:
            finish(self.factory, work_id)


def recover_periodically(recover: Callable[[], int], stop: threading.Event) -> threading.Thread:
    """Look for work left behind at once (a restart) and then every RECOVERY_SECONDS."""

    def loop() -> None:
        while True:
            try:
                recover()
            except Exception:
                # The database may be away for a moment; the next round tries again.
                logger.exception("could not look for accepted work left behind")
            if stop.wait(RECOVERY_SECONDS):
                return

    thread = threading.Thread(target=loop, name="accepted-work", daemon=True)
    thread.start()
    return thread
