"""The work an app instance does besides answering Slack: delivering and scheduled jobs."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from bot.runtime.delivery import build_worker
from bot.runtime.jobs import JobContext
from bot.runtime.scheduler import build_scheduler
from bot.runtime.settings import Settings
from storage.db.database import Database


@dataclass
class Background:
    stop_delivery: threading.Event
    delivery: threading.Thread
    scheduler: BackgroundScheduler

    def stop(self) -> None:
        self.stop_delivery.set()
        self.scheduler.shutdown(wait=False)
        self.delivery.join(timeout=10)


def start_background(settings: Settings, db: Database) -> Background:
    """Start the delivery worker and the scheduler (only the advisory-lock holder runs jobs)."""
    stop = threading.Event()
    worker = build_worker(settings, factory=db.sessions)
    delivery = threading.Thread(target=worker.run, args=(stop,), name="delivery", daemon=True)
    delivery.start()
    scheduler, _leadership = build_scheduler(
        JobContext(db.sessions, settings.rules, operators=settings.admins), db.engine
    )
    scheduler.start()
    return Background(stop, delivery, scheduler)
