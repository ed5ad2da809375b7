"""Answers (/slash_command, buttons, the Home tab) are worked out in worker processes; the serving
process verifies and acks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from slack_bolt import BoltRequest

from bot.devtools.emulator import Emulator, User
from bot.devtools.emulator.sender import AppSender, Tamper
from bot.runtime.accepted_work import LAZY_FUNCTION, LAZY_ONLY, LazyRequest
from bot.runtime.serving import EVENTS_PATH, OpenApp, open_app, start_in_thread
from bot.runtime.settings import Settings
from bot.runtime.work_processes import ProcessLazyListenerRunner
from handlers import home, lending, slash_command
from storage.db.database import Database
from tests.factories import make_project


def eventually(found: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not found():
        assert time.monotonic() < deadline, "the worker's answer never arrived"
        time.sleep(0.05)


@pytest.fixture
def served(
    slack: Emulator, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[OpenApp, AppSender]]:
    """The app as `microlend serve` builds it, with one worker process."""

    def not_here(*_args: object) -> None:
        raise AssertionError("the serving process worked out an answer itself")

    # Patched in this process only: a spawned worker imports the real ones.
    monkeypatch.setattr(slash_command, "dispatch", not_here)
    monkeypatch.setattr(lending, "open_pledge_modal", not_here)
    monkeypatch.setattr(home, "publish_home", not_here)
    settings = Settings(
        database_url=str(sqlite_db.engine.url),
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.base_url,
        work_processes=1,
    )
    opened = open_app(settings)
    server = start_in_thread(opened.app, opened.db, signing_secret=slack.signing_secret)
    try:
        yield opened, slack.connect(f"http://127.0.0.1:{server.port}{EVENTS_PATH}")
    finally:
        server.stop()
        opened.close()


def test_a_worker_process_answers_after_the_serving_process_acks(
    slack: Emulator, sqlite_db: Database, served: tuple[OpenApp, AppSender]
) -> None:
    opened, sender = served
    make_project(sqlite_db, country="Senegal")
    alice: User = slack.add_user("alice")
    assert isinstance(opened.workers, ProcessLazyListenerRunner)

    delivery = sender.slash_command(alice.id, "/lend", "browse")

    assert delivery.status == 200 and delivery.body == ""
    eventually(lambda: slack.ephemerals(alice.id))
    assert "Senegal" in str(slack.ephemerals(alice.id)[-1].blocks)


def test_a_worker_process_opens_modals_with_the_bot_token(
    slack: Emulator, served: tuple[OpenApp, AppSender]
) -> None:
    _opened, sender = served
    alice = slack.add_user("alice")

    sender.slash_command(alice.id, "/lend", "settings")

    eventually(lambda: slack.modal_stack(alice.id))
    assert slack.modal_stack(alice.id)[-1].payload["callback_id"] == "settings_modal"


def test_a_worker_process_answers_a_button(
    slack: Emulator, sqlite_db: Database, served: tuple[OpenApp, AppSender]
) -> None:
    _opened, sender = served
    make_project(sqlite_db, country="Senegal")
    alice = slack.add_user("alice")
    sender.slash_command(alice.id, "/lend", "browse")
    eventually(lambda: slack.ephemerals(alice.id))

    delivery = sender.click(alice.id, "lend")

    assert delivery.status == 200 and delivery.body == ""
    eventually(lambda: slack.modal_stack(alice.id))
    assert slack.modal_stack(alice.id)[-1].payload["callback_id"] == "pledge_modal"


def test_a_worker_process_publishes_the_home_tab_though_the_event_is_recorded(
    slack: Emulator, served: tuple[OpenApp, AppSender]
) -> None:
    _opened, sender = served
    alice = slack.add_user("alice")

    delivery = sender.open_home(alice.id)

    assert delivery.status == 200
    eventually(lambda: slack.home_view(alice.id))


def test_a_forged_request_is_refused_before_any_worker_sees_it(
    slack: Emulator, served: tuple[OpenApp, AppSender]
) -> None:
    _opened, sender = served
    alice = slack.add_user("alice")

    forged = Tamper(forge_signature=True)

    delivery = sender.slash_command(alice.id, "/lend", "browse", tamper=forged)

    assert delivery.status == 401
    time.sleep(1)
    assert not slack.ephemerals(alice.id)


def test_what_a_worker_is_handed_dispatches_only_the_named_lazy_function() -> None:
    request = BoltRequest(body="command=%2Flend&text=browse", headers={"x-a": ["1"]})
    request.lazy_function_name = "answer"

    again = LazyRequest.of(request).to_bolt()

    assert (again.raw_body, again.mode) == (request.raw_body, "http")
    assert again.lazy_only and again.lazy_function_name == "answer"
    assert {LAZY_ONLY, LAZY_FUNCTION, "x-a"} <= set(again.headers)


def test_a_socket_mode_request_is_handed_on_as_its_payload() -> None:
    body = {"command": "/lend", "text": "browse", "response_url": "https://hooks.example/1"}
    request = BoltRequest(body=body, mode="socket_mode")
    request.lazy_function_name = "answer"

    again = LazyRequest.of(request).to_bolt()

    assert (again.body, again.mode, again.lazy_function_name) == (body, "socket_mode", "answer")


def test_no_worker_processes_answer_on_threads(sqlite_db: Database, slack: Emulator) -> None:
    settings = Settings(
        database_url=str(sqlite_db.engine.url),
        slack_bot_token=slack.bot_token,
        slack_api_url=slack.base_url,
        work_processes=0,
    )
    opened = open_app(settings)
    try:
        assert opened.workers is None
    finally:
        opened.close()
