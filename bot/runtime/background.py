"""The work an app instance does besides answering Slack: delivering, scheduled jobs, and
taking over the acknowledged work that other processes left undone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from bot.runtime.accepted_work import recover_periodically
from bot.runtime.delivery import build_worker
from bot.runtime.jobs import JobContext, clients_for
from bot.runtime.scheduler import build_scheduler
from bot.runtime.settings import Settings
from storage.db.database import Database


@dataclass
class Background:
    stopping: threading.Event
    threads: tuple[threading.Thread, ...]
    scheduler: BackgroundScheduler

    def stop(self) -> None:
        self.stopping.set()
        self.scheduler.shutdown(wait=False)
        for thread in self.threads:
            thread.join(timeout=10)


def start_background(settings: Settings, db: Database, *, recover: Callable[[], int]) -> Background:
    """Start the delivery worker, the scheduler (only the advisory-lock holder runs jobs) and
    the recovery of work left behind (`recover`, at once and then periodically)."""
    stop = threading.Event()
    worker = build_worker(settings, db=db)
    delivery = threading.Thread(target=worker.run, args=(stop,), name="delivery", daemon=True)
    delivery.start()
    scheduler, _leadership = build_scheduler(
        JobContext(
            db.sessions,
            settings.rules,
            operators=settings.admins,
            slack=clients_for(settings, db),
        ),
        db.engine,
    )
    scheduler.start()
    return Background(stop, (delivery, recover_periodically(recover, stop)), scheduler)
