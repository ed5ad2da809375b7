"""The console's world: the emulator, the real app over HTTP, the delivery worker and the jobs,
all on one database and one clock that stands still until the person at the console waits.

The app is the production one (``create_app`` served by waitress through ``start_in_thread``);
the emulator sends it signed requests exactly as Slack would. The clock is shared by the
app's listeners, the delivery worker and the scheduled ticks. The emulator itself keeps wall
time: it signs each request with its clock and Bolt checks the signature's timestamp against
the real time, so an emulator living three days ahead would be refused as a replay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.devtools.demo import CIRCLE, DEMO_CSV, LENDERS, TEAM_ID, DemoLender, DemoReport, load_demo
from bot.devtools.emulator import (
    AppSender,
    Channel,
    Emulator,
    EmulatorConfig,
    RateLimitConfig,
    User,
)
from bot.runtime.app import create_app
from bot.runtime.delivery import DeliverySettings, DeliveryWorker, WorkerStats
from bot.runtime.jobs import JobContext, JobSchedule, run_job
from bot.runtime.send_limiter import RateLimits, WorkspaceRateLimiter
from bot.runtime.serving import EVENTS_PATH, start_in_thread
from bot.runtime.settings import Settings
from bot.runtime.slack_client import SlackClient
from handlers.context import Services
from storage.db.database import Database, open_database
from storage.projects.models import Project

T = TypeVar("T")
GENERAL = Channel(id="C0DEMOGENERAL", name="general")
# The workspace's own limits are off in the emulator; the worker's limiter only needs to
# keep out of the way of one person at a terminal.
UNHURRIED = RateLimits(per_minute=60_000, per_channel_per_second=1_000)


class ConsoleClock:
    """Naive UTC, as the database keeps it; moves only when the console user waits."""

    def __init__(self, start: datetime) -> None:
        self._now = start.replace(tzinfo=None, microsecond=0)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class InlineExecutor(Executor):
    """Runs each listener to its end in the request's thread, before the HTTP answer goes back.

    Bolt takes the ack from the listener as usual; the answer just waits for the rest of the
    work, so when the emulator's request returns, everything the app sent has arrived and the
    console can print it. One person at a terminal never comes near Slack's 3-second limit.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to whoever reads the future, as a pool would
            future.set_exception(error)
        return future


@dataclass(frozen=True)
class LocalSlack:
    """Everything the console drives."""

    slack: Emulator
    sender: AppSender
    db: Database
    worker: DeliveryWorker
    jobs: JobContext
    clock: ConsoleClock
    # What loading the demo did, or None when the database already had projects.
    demo: DemoReport | None


def emulated_user(lender: DemoLender, now: datetime) -> User:
    zone = ZoneInfo(lender.tz)
    offset = now.replace(tzinfo=UTC).astimezone(zone).utcoffset() or timedelta()
    return User(
        id=lender.user_id,
        name=lender.name,
        real_name=lender.real_name,
        tz=lender.tz,
        tz_offset=int(offset.total_seconds()),
        tz_label=lender.tz,
    )


def emulator_config(now: datetime) -> EmulatorConfig:
    """The demo workspace: its people, #general and the circle's channel, rate limits off."""
    members = [lender.user_id for lender in LENDERS]
    config = EmulatorConfig(team_id=TEAM_ID, rate_limits=RateLimitConfig.off(), clock=time.time)
    circle = Channel(id=CIRCLE.channel_id, name=CIRCLE.channel_name)
    config.users = [emulated_user(lender, now) for lender in LENDERS]
    config.channels = [
        replace(channel, members=[*members, config.bot_user_id]) for channel in (GENERAL, circle)
    ]
    return config


def ensure_demo(settings: Settings, db: Database, now: datetime) -> DemoReport | None:
    """Load the demo on an empty database (none of its projects); leave any other alone."""
    with db.reads() as session:
        projects = session.execute(select(func.count()).select_from(Project)).scalar_one()
    if projects or not DEMO_CSV.exists():
        return None
    return load_demo(db.sessions, settings.rules, DEMO_CSV, now=now)


def due_jobs(start: datetime, end: datetime, schedule: JobSchedule | None = None) -> list[str]:
    """Jobs with a scheduled run in (start, end]: each runs once, as the scheduler coalesces."""
    schedule = schedule or JobSchedule()
    after = (start + timedelta(seconds=1)).replace(tzinfo=UTC)
    names = []
    for name in schedule.crons:
        fire = schedule.trigger(name).get_next_fire_time(None, after)
        if fire is not None and fire <= end.replace(tzinfo=UTC):
            names.append(name)
    return names


@dataclass(frozen=True)
class Tick:
    """What one fast-forward did."""

    jobs: tuple[str, ...]
    failures: tuple[str, ...]
    sent: WorkerStats


def fast_forward(local: LocalSlack, delta: timedelta) -> Tick:
    """Move the clock on, run the ticks that fell due, then deliver what is due."""
    start = local.clock.now()
    local.clock.advance(delta)
    ran, failures = [], []
    for name in due_jobs(start, local.clock.now()):
        try:
            run_job(local.jobs, name)
            ran.append(name)
        except Exception as error:  # one failed tick must not end the session, as in the scheduler
            failures.append(f"{name}: {error}")
    return Tick(tuple(ran), tuple(failures), local.worker.drain())


@contextmanager
def running_locally(settings: Settings, clock: ConsoleClock) -> Iterator[LocalSlack]:
    """Open the database (loading the demo when empty), start the emulator and the app."""
    db = open_database(settings.database_url)
    try:
        demo = ensure_demo(settings, db, clock.now())
        with Emulator(emulator_config(clock.now())) as slack:
            yield from _serving(settings, db, slack, clock, demo)
    finally:
        db.dispose()


def _serving(
    settings: Settings,
    db: Database,
    slack: Emulator,
    clock: ConsoleClock,
    demo: DemoReport | None,
) -> Iterator[LocalSlack]:
    app_settings = replace(
        settings,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.base_url,
    )
    services = Services(db=db, rules=settings.rules, admins=settings.admins, clock=clock.now)
    app = create_app(app_settings, services, executor=InlineExecutor())
    server = start_in_thread(app, db, signing_secret=slack.signing_secret)
    worker = DeliveryWorker(
        db.sessions,
        SlackClient(slack.client()),
        WorkspaceRateLimiter(UNHURRIED),
        settings=DeliverySettings(senders=2, idle_seconds=0.01, limits=UNHURRIED),
        currency=settings.currency,
        clock=clock.now,
    )
    try:
        yield LocalSlack(
            slack=slack,
            sender=slack.connect(f"http://127.0.0.1:{server.port}{EVENTS_PATH}"),
            db=db,
            worker=worker,
            jobs=JobContext(
                db.sessions, settings.rules, clock=clock.now, operators=settings.admins
            ),
            clock=clock,
            demo=demo,
        )
    finally:
        server.stop()
