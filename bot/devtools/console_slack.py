"""The console's world: the emulator, the real app over HTTP, the delivery worker and the jobs,
all on one database and one clock that stands still until the person at the console waits.

The clock and the channels are kept beside an SQLite database, so a console started again
resumes where the last one stopped (a database that has seen the end of a month must not go
back to today, and a circle keeps its channel). A new
demo starts on a weekday afternoon in Europe, inside the working hours of most colleagues.
Waiting moves the clock from one moment that matters to the next (a message falling due, a
daily job, new loans arriving, a pledged project's deadline), delivering at each, so a DM
arrives when its reader's working hours open, as it would in Slack.

The app is the production one (``create_app`` served by waitress through ``start_in_thread``);
the emulator sends it signed requests exactly as Slack would. The clock is shared by the
app's listeners, the delivery worker and the scheduled ticks. The emulator itself keeps wall
time: it signs each request with its clock and Bolt checks the signature's timestamp against
the real time, so an emulator living three days ahead would be refused as a replay.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.devtools.demo import (
    CIRCLE,
    DEMO_CSV,
    LENDERS,
    TEAM_ID,
    DemoLender,
    DemoReport,
    is_demo,
    load_demo,
    replenish,
)
from bot.devtools.emulator import (
    AppSender,
    Channel,
    Emulator,
    EmulatorConfig,
    RateLimitConfig,
    SlackError,
    User,
)
from bot.devtools.emulator.web_api import conversations_create, conversations_invite
from bot.runtime.app import create_app
from bot.runtime.delivery import DeliverySettings, DeliveryWorker
from bot.runtime.jobs import JobContext, JobSchedule, run_job
from bot.runtime.send_limiter import RateLimits, WorkspaceRateLimiter
from bot.runtime.serving import EVENTS_PATH, start_in_thread
from bot.runtime.settings import Settings
from bot.runtime.slack_client import SlackClient
from handlers.context import Services
from storage.db.clock import utcnow
from storage.db.database import Database, open_database
from storage.notifications.models import Notification, NotificationStatus
from storage.projects.models import Project, ProjectStatus

T = TypeVar("T")
GENERAL = Channel(id="C0DEMOGENERAL", name="general")
# The workspace's own limits are off in the emulator; the worker's limiter only needs to
# keep out of the way of one person at a terminal.
UNHURRIED = RateLimits(per_minute=60_000, per_channel_per_second=1_000)
# 09:30 in Lima, 14:30 in Dakar, 16:30 in Beirut (17:30 in summer): a new demo starts on a
# weekday at this time, UTC, so most colleagues are at work and their DMs go out.
DEMO_START = time_of_day(14, 30)
# Partners post their new loans every morning.
ARRIVALS = CronTrigger.from_crontab("0 6 * * *", timezone=UTC)
# Jobs firing more often than this run at every stop of a wait rather than making stops.
CALENDAR = timedelta(days=1)
EXPIRY_JOB = "expire"


class ConsoleClock:
    """Naive UTC, as the database keeps it; moves only when the console user waits."""

    def __init__(self, start: datetime) -> None:
        self._now = start.replace(tzinfo=None, microsecond=0)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


@dataclass(frozen=True)
class Remembered:
    """What the console's Slack keeps between sessions: the time and the channels."""

    now: datetime | None = None
    channels: tuple[Channel, ...] = ()


def memory_path(database_url: str) -> Path | None:
    """Beside an SQLite file (``microlend.db.console.json``); nowhere for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(f"{url.database}.console.json")


def recall(path: Path | None) -> Remembered:
    if path is None or not path.exists():
        return Remembered()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        now = datetime.fromisoformat(saved["now"])
        channels = tuple(Channel(**channel) for channel in saved["channels"])
    except (ValueError, KeyError, TypeError):
        # A damaged file is forgotten rather than fatal: the console starts afresh.
        return Remembered()
    return Remembered(now, channels)


def remember(local: LocalSlack) -> None:
    """Save the clock and every channel (with its members) for the next console."""
    if local.memory is None:
        return
    with local.slack.state.lock:
        channels = [asdict(c) for c in local.slack.state.channels.values() if not c.is_im]
    saved = {"now": local.clock.now().isoformat(), "channels": channels}
    local.memory.write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")


def demo_start(wall: datetime) -> datetime:
    """The latest weekday ``DEMO_START`` at or before ``wall`` (naive UTC)."""
    day = wall.date() if wall.time() >= DEMO_START else wall.date() - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return datetime.combine(day, DEMO_START)


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
    # Whether the Kiva sample keeps arriving: only on a demo database.
    arrivals: bool
    # Where the clock and the channels are kept between sessions, if anywhere.
    memory: Path | None


def emulated_user(lender: DemoLender, now: datetime) -> User:
    return User(
        id=lender.user_id,
        name=lender.name,
        real_name=lender.real_name,
        tz=lender.tz,
        tz_offset=_offset(lender.tz, now),
        tz_label=lender.tz,
        locale=lender.locale,
    )


def _offset(zone: str, now: datetime) -> int:
    offset = now.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).utcoffset() or timedelta()
    return int(offset.total_seconds())


def change_time_zone(local: LocalSlack, lender: DemoLender, zone: str) -> DemoLender:
    """The person sets another time zone in Slack: the directory changes and Slack tells the
    app with ``user_change`` (signed, as every event the emulator sends)."""
    if zone not in available_timezones():
        raise LookupError(f"Python knows no time zone {zone!r} (try Asia/Tokyo).")
    with local.slack.state.lock:
        user = local.slack.state.users[lender.user_id]
        user.tz, user.tz_label, user.tz_offset = zone, zone, _offset(zone, local.clock.now())
    local.sender.directory_changed(lender.user_id)
    return replace(lender, tz=zone)


def leave_company(local: LocalSlack, lender: DemoLender) -> None:
    """The person leaves the company: an admin deactivates their account, and Slack sends
    ``user_change`` with ``deleted`` (https://api.slack.com/events/user_change)."""
    _set_deleted(local, lender.user_id, deleted=True)


def _set_deleted(local: LocalSlack, user_id: str, *, deleted: bool) -> None:
    with local.slack.state.lock:
        user = local.slack.state.users[user_id]
        if user.deleted == deleted:
            raise LookupError(f"{user.name} has {'left' if deleted else 'not left'} already.")
        user.deleted = deleted
    local.sender.directory_changed(user_id)


def join_workspace(local: LocalSlack, name: str) -> DemoLender:
    """A new colleague appears in the workspace (in #general, UTC until they say otherwise):
    Slack sends ``team_join``; the app looks them up the first time they use it. Someone who
    left is reactivated instead (``user_change``, no longer ``deleted``)."""
    if not name.isalnum():
        raise ValueError("A colleague's name is one word of letters and digits: `join eve`.")
    newcomer = DemoLender(f"U0DEMO{name.upper()}", name.lower(), name.title(), "UTC")
    if newcomer.user_id in local.slack.state.users:
        if not local.slack.state.users[newcomer.user_id].deleted:
            raise LookupError(f"{newcomer.name} is already here.")
        _set_deleted(local, newcomer.user_id, deleted=False)
        return newcomer
    local.slack.add_user(
        newcomer.name, id=newcomer.user_id, real_name=newcomer.real_name, tz=newcomer.tz
    )
    with local.slack.state.lock:
        local.slack.state.resolve_channel(GENERAL.id).members.append(newcomer.user_id)
    local.sender.directory_changed(newcomer.user_id, "team_join")
    return newcomer


def emulator_config(now: datetime, remembered: tuple[Channel, ...] = ()) -> EmulatorConfig:
    """The demo workspace: its people, #general, the circle's channel and the channels made in
    earlier sessions, rate limits off."""
    members = [lender.user_id for lender in LENDERS]
    config = EmulatorConfig(team_id=TEAM_ID, rate_limits=RateLimitConfig.off(), clock=time.time)
    circle = Channel(id=CIRCLE.channel_id, name=CIRCLE.channel_name)
    config.users = [emulated_user(lender, now) for lender in LENDERS]
    seeded = {
        channel.id: replace(channel, members=[*members, config.bot_user_id])
        for channel in (GENERAL, circle)
    }
    config.channels = list({**seeded, **{channel.id: channel for channel in remembered}}.values())
    return config


def is_empty(db: Database) -> bool:
    with db.reads() as session:
        return not session.execute(select(func.count()).select_from(Project)).scalar_one()


def due_jobs(start: datetime, end: datetime, schedule: JobSchedule | None = None) -> list[str]:
    """Jobs with a scheduled run in (start, end]: each runs once, as the scheduler coalesces."""
    schedule = schedule or JobSchedule()
    return [name for name in schedule.crons if _fires(schedule.trigger(name), start, end)]


def _next_fire(trigger: CronTrigger, after: datetime) -> datetime | None:
    """The trigger's first fire strictly after ``after`` (naive UTC in and out)."""
    fire = trigger.get_next_fire_time(None, (after + timedelta(seconds=1)).replace(tzinfo=UTC))
    return None if fire is None else fire.astimezone(UTC).replace(tzinfo=None)


def _fires(trigger: CronTrigger, start: datetime, end: datetime) -> bool:
    fire = _next_fire(trigger, start)
    return fire is not None and fire <= end


def _is_calendar(trigger: CronTrigger, now: datetime) -> bool:
    first = _next_fire(trigger, now)
    second = _next_fire(trigger, first) if first else None
    return first is None or second is None or second - first >= CALENDAR


@dataclass
class Tick:
    """What one wait did, over all its stops."""

    jobs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    arrived: int = 0

    def ran(self, name: str) -> None:
        if name not in self.jobs:
            self.jobs.append(name)


def fast_forward(local: LocalSlack, delta: timedelta) -> Tick:
    """Move the clock on by ``delta``, stopping at each moment that matters on the way: the
    ticks that fell due run (once each per stop, as the scheduler coalesces), new loans
    arrive, and what is due is delivered."""
    end = local.clock.now() + delta
    tick = Tick()
    while local.clock.now() < end:
        start = local.clock.now()
        local.clock.advance(next_stop(local, end) - start)
        _stop(local, start, tick)
    return tick


def next_stop(local: LocalSlack, end: datetime) -> datetime:
    """The first moment after now, up to ``end``, at which something is due to happen."""
    schedule = JobSchedule()
    now = local.clock.now()
    triggers = [schedule.trigger(name) for name in schedule.crons]
    if local.arrivals:
        triggers.append(ARRIVALS)
    calendar = [_next_fire(t, now) for t in triggers if _is_calendar(t, now)]
    deadline = _next_pledged_deadline(local.db, now)
    expiry = _next_fire(schedule.trigger(EXPIRY_JOB), deadline) if deadline else None
    moments = [*calendar, expiry, _next_message(local.db, now), end]
    return min(m for m in moments if m is not None and m > now)


def _next_message(db: Database, now: datetime) -> datetime | None:
    with db.reads() as session:
        return session.execute(
            select(func.min(Notification.due_at)).where(
                Notification.status == NotificationStatus.PENDING, Notification.due_at > now
            )
        ).scalar_one()


def _next_pledged_deadline(db: Database, now: datetime) -> datetime | None:
    """When the next project someone lent to may expire: its lenders hear of it."""
    with db.reads() as session:
        return session.execute(
            select(func.min(Project.deadline)).where(
                Project.status == ProjectStatus.FUNDRAISING,
                Project.funded > 0,
                Project.deadline >= now,
            )
        ).scalar_one()


def _stop(local: LocalSlack, start: datetime, tick: Tick) -> None:
    now = local.clock.now()
    for name in due_jobs(start, now):
        try:
            run_job(local.jobs, name)
            tick.ran(name)
        except Exception as error:  # one failed tick must not end the session, as in the scheduler
            tick.failures.append(f"{name}: {error}")
    if local.arrivals and _fires(ARRIVALS, start, now):
        tick.arrived += replenish(local.db.sessions, local.jobs.rules, DEMO_CSV, now=now)
    tick.sent += local.worker.drain().messages_sent


class Entry(enum.Enum):
    """How a person came into a channel."""

    MEMBER = "already a member"
    JOINED = "joined"
    CREATED = "created"


def enter_channel(local: LocalSlack, name: str, user_id: str) -> tuple[Channel, Entry]:
    """The channel called ``name``, joining it or creating it (with the app in it) if need be.

    The emulator knows only the app's token, so the app creates a new channel and invites the
    person: the same members as a person creating it and adding the app. Slack then tells the
    app that the person joined.
    """
    state = local.slack.state
    try:
        channel, entry = state.resolve_channel(name), Entry.JOINED
    except SlackError as error:
        if error.error != "channel_not_found":
            raise
        created = conversations_create(state, {"name": name.removeprefix("#")})
        channel, entry = state.channels[created["channel"]["id"]], Entry.CREATED
    if user_id in channel.members:
        return channel, Entry.MEMBER
    conversations_invite(state, {"channel": channel.id, "users": user_id})
    event = {
        "type": "member_joined_channel",
        "user": user_id,
        "channel": channel.id,
        "channel_type": "G" if channel.is_private else "C",
        "team": state.config.team_id,
    }
    local.sender.send_event(event)
    return channel, entry


@contextmanager
def running_locally(settings: Settings, clock: ConsoleClock | None = None) -> Iterator[LocalSlack]:
    """Open the database (loading the demo when empty), start the emulator and the app.

    A new demo starts at ``demo_start``; a database already in use resumes the time and the
    channels its last console left (``remember``). A ``clock`` given sets the time instead.
    """
    db = open_database(settings.database_url)
    memory = memory_path(settings.database_url)
    try:
        fresh = is_empty(db)
        remembered = Remembered() if fresh else recall(memory)
        wall = utcnow()
        clock = clock or ConsoleClock(demo_start(wall) if fresh else remembered.now or wall)
        demo = None
        if fresh and DEMO_CSV.exists():
            demo = load_demo(db.sessions, settings.rules, DEMO_CSV, now=clock.now())
        with Emulator(emulator_config(clock.now(), remembered.channels)) as slack:
            yield from _serving(settings, db, slack, clock, demo, memory)
    finally:
        db.dispose()


def _serving(
    settings: Settings,
    db: Database,
    slack: Emulator,
    clock: ConsoleClock,
    demo: DemoReport | None,
    memory: Path | None,
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
                db.sessions,
                settings.rules,
                clock=clock.now,
                operators=settings.admins,
                slack=lambda: [slack.client()],
            ),
            clock=clock,
            demo=demo,
            arrivals=is_demo(db.sessions),
            memory=memory,
        )
    finally:
        server.stop()
