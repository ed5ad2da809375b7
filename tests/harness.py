"""End-to-end harness: the emulator and the real app on free ports, driven by signed requests.

    def test_help(harness: Harness) -> None:
        alice = harness.user("alice")
        harness.command(alice.id, "help")
        assert "browse" in harness.reply_text(alice.id)

Every request goes over HTTP to waitress and Bolt exactly as Slack's would, signed with the
signing secret. Bolt acks first and finishes the work on a background executor; each driving
method waits until that work is done (`settle`), so a test can assert straight away on the
Web API calls the emulator logged (`calls`, `ephemerals`, `home`), on the modal stack, and on
the database (`harness.db`). A listener that raised fails the test at the next `settle`.

Other test folders reuse it by importing the fixtures into their conftest:

    from tests.harness import harness, harness_on_db  # noqa: F401
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, TypeVar

import pytest
from slack_bolt import App
from sqlalchemy import func, select
from sqlalchemy.orm import DeclarativeBase

from bot.devtools.emulator import (
    Call,
    Delivery,
    Emulator,
    EmulatorConfig,
    Message,
    RateLimitConfig,
    Tamper,
    User,
    View,
)
from bot.runtime.app import create_app
from bot.runtime.delivery import DeliverySettings, DeliveryWorker, WorkerStats
from bot.runtime.send_limiter import RateLimits, WorkspaceRateLimiter
from bot.runtime.serving import EVENTS_PATH, start_in_thread
from bot.runtime.settings import Settings
from bot.runtime.slack_client import SlackClient
from handlers.context import Services
from storage.db.clock import utcnow
from storage.db.database import Database
from storage.lending.rules import LendingRules
from tests.slack_models import assert_calls_valid

T = TypeVar("T")


class SettlingExecutor(ThreadPoolExecutor):
    """Bolt's listener executor, counting what is in flight so tests can wait for it."""

    def __init__(self, max_workers: int = 8) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="listener")
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._idle:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any]) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError(f"listeners still running after {timeout}s")


@dataclass
class Harness:
    """One emulated Slack workspace talking to one running microlend app."""

    slack: Emulator
    db: Database
    services: Services
    app: App
    app_url: str
    executor: SettlingExecutor
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sender = self.slack.connect(self.app_url)

    # -- people and places -------------------------------------------------------------

    def user(self, name: str, **profile: Any) -> User:
        return self.slack.add_user(name, **profile)

    def channel(self, name: str, members: list[str]) -> str:
        bot = self.slack.config.bot_user_id
        return self.slack.add_channel(name, [*members, bot]).id

    # -- driving the app (each waits for the work after the ack) -----------------------

    def command(
        self,
        user_id: str,
        text: str,
        channel_id: str | None = None,
        *,
        command: str = "/lend",
        tamper: Tamper | None = None,
    ) -> Delivery:
        return self._settled(self.sender.slash_command(user_id, command, text, channel_id, tamper))

    def click(
        self,
        user_id: str,
        action_id: str | None = None,
        value: str | None = None,
        *,
        within: Message | View | None = None,
        tamper: Tamper | None = None,
    ) -> Delivery:
        return self._settled(
            self.sender.click(user_id, action_id, value, within=within, tamper=tamper)
        )

    def submit(
        self, user_id: str, values: dict[str, Any] | None = None, tamper: Tamper | None = None
    ) -> Delivery:
        return self._settled(self.sender.submit_modal(user_id, values, tamper))

    def event(self, event: dict[str, Any], tamper: Tamper | None = None) -> Delivery:
        return self._settled(self.sender.send_event(event, tamper))

    def open_home(self, user_id: str, tamper: Tamper | None = None) -> Delivery:
        return self._settled(self.sender.open_home(user_id, tamper))

    def resend(
        self, delivery: Delivery, retry_num: int = 1, tamper: Tamper | None = None
    ) -> Delivery:
        """Slack's retry of the same request (same body, same event_id)."""
        return self._settled(self.sender.resend(delivery, retry_num, tamper=tamper))

    def deliver(self, at: datetime | None = None) -> WorkerStats:
        """Send every notification due at ``at`` through the real delivery worker; by default
        the next weekday at 10:00 UTC, inside every lender's default working hours."""
        moment = at or next_working_morning(utcnow())
        worker = DeliveryWorker(
            self.db.sessions,
            SlackClient(self.slack.client()),
            WorkspaceRateLimiter(RateLimits(per_minute=60_000, per_channel_per_second=1_000)),
            settings=DeliverySettings(senders=1, idle_seconds=0.01),
            clock=lambda: moment,
        )
        return worker.drain()

    def settle(self, timeout: float = 15.0) -> None:
        """Wait until every listener has finished; fail if one raised."""
        self.executor.wait_idle(timeout)
        if self.errors:
            raise AssertionError(f"a listener failed: {self.errors[0]!r}") from self.errors[0]

    def _settled(self, delivery: Delivery) -> Delivery:
        self.settle()
        return delivery

    # -- what the app did --------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        return self.slack.calls(method)

    def ephemerals(self, user_id: str) -> list[Message]:
        return self.slack.ephemerals(user_id)

    def reply(self, user_id: str) -> Message:
        """The newest message only this user sees (a /lend answer, usually)."""
        messages = self.ephemerals(user_id)
        if not messages:
            raise AssertionError(f"no ephemeral message for {user_id}")
        return messages[-1]

    def reply_text(self, user_id: str) -> str:
        return text_of(self.reply(user_id))

    def home(self, user_id: str) -> View:
        view = self.slack.home_view(user_id)
        if view is None:
            raise AssertionError(f"no Home tab published for {user_id}")
        return view

    def modal(self, user_id: str) -> View:
        stack = self.slack.modal_stack(user_id)
        if not stack:
            raise AssertionError(f"no modal open for {user_id}")
        return stack[-1]

    def count(self, model: type[DeclarativeBase], *where: Any) -> int:
        """Rows of a table (matching `where`): for "nothing changed" assertions."""
        with self.db.sessions() as session:
            return session.execute(
                select(func.count()).select_from(model).where(*where)
            ).scalar_one()


def next_working_morning(now: datetime) -> datetime:
    """The next Monday-to-Friday 10:00 (naive UTC) after ``now``."""
    day = now.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(10, 0))


TEXT_KINDS = ("mrkdwn", "plain_text")


def text_of(
    item: Message | View | dict[str, Any] | list[Any], kinds: tuple[str, ...] = TEXT_KINDS
) -> str:
    """The text a person would read in a message or view, newline-joined.

    `kinds=("mrkdwn",)` keeps only what Slack parses for mentions and links (a message's
    fallback `text` included): where hostile input must arrive escaped.
    """
    if isinstance(item, Message):
        return "\n".join([item.text, text_of(item.blocks, kinds)])
    if isinstance(item, View):
        return text_of(item.payload, kinds)
    parts: list[str] = []
    _collect_text(item, parts, kinds)
    return "\n".join(parts)


def _collect_text(node: Any, parts: list[str], kinds: tuple[str, ...]) -> None:
    if isinstance(node, list):
        for child in node:
            _collect_text(child, parts, kinds)
    elif isinstance(node, dict):
        if node.get("type") in TEXT_KINDS and isinstance(node.get("text"), str):
            if node["type"] in kinds:
                parts.append(node["text"])
            return
        for key, child in node.items():
            if key not in ("value", "private_metadata", "action_id", "block_id"):
                _collect_text(child, parts, kinds)


def button_values(item: Message | View, action_id: str) -> list[str]:
    """The values of every button with this action_id, in order."""
    blocks = item.blocks
    found: list[str] = []
    for block in blocks:
        elements = [block.get("accessory"), *(block.get("elements") or [])]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                found.append(str(element.get("value", "")))
    return found


@contextmanager
def running_harness(
    db: Database,
    *,
    rules: LendingRules | None = None,
    admins: frozenset[str] = frozenset(),
    rate_limits: RateLimitConfig | None = None,
) -> Iterator[Harness]:
    """Start the emulator and the app (waitress, free ports) on `db`; stop both after."""
    config = EmulatorConfig(rate_limits=rate_limits or RateLimitConfig.off())
    with Emulator(config) as slack:
        settings = Settings(
            database_url=str(db.engine.url),
            rules=rules or LendingRules(),
            admins=admins,
            slack_bot_token=slack.bot_token,
            slack_signing_secret=slack.signing_secret,
            slack_api_url=slack.base_url,
        )
        services = Services(db=db, rules=settings.rules, admins=admins)
        executor = SettlingExecutor()
        app = create_app(settings, services, executor=executor)
        errors: list[BaseException] = []

        @app.error
        def _record(error: BaseException) -> None:
            errors.append(error)

        server = start_in_thread(app, db, signing_secret=slack.signing_secret)
        try:
            yield Harness(
                slack=slack,
                db=db,
                services=services,
                app=app,
                app_url=f"http://127.0.0.1:{server.port}{EVENTS_PATH}",
                executor=executor,
                errors=errors,
            )
        finally:
            server.stop()
            executor.shutdown(wait=True)
        # Everything the app sent during the test, checked by slack_sdk's models as well.
        assert_calls_valid(slack.calls())


@pytest.fixture
def harness(sqlite_db: Database) -> Iterator[Harness]:
    """The app on a fresh SQLite database, with rate limits off."""
    with running_harness(sqlite_db) as running:
        yield running


@pytest.fixture
def harness_on_db(db: Database) -> Iterator[Harness]:
    """The same scenario on SQLite and on PostgreSQL (skipped when none is reachable)."""
    with running_harness(db) as running:
        yield running
