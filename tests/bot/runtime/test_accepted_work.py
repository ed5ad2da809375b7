"""Work that was acknowledged is not lost when the process that acked it dies.

The crash is played by an executor that never runs what it is given: the request was acked
(200) and the work written down, and nothing more happened. After the lease, the restarted
app (here: the same app's runner, as another instance would) takes the work over.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import timedelta
from typing import Any

from bot.runtime.accepted_work import LEASE, MAX_ATTEMPTS, ThreadWorkRunner
from storage.db.clock import utcnow
from storage.db.models import AcceptedWork
from storage.lending.credit import grant_credit
from storage.lending.lenders import SlackIdentity
from storage.lending.models import Pledge
from storage.projects.models import Project
from tests.factories import make_project
from tests.harness import Harness, harness

__all__ = ["harness"]


class DiesBeforeRunning(Executor):
    """The process is gone the moment after the ack: nothing it was handed runs."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return Future()


def runner_of(harness: Harness) -> ThreadWorkRunner:
    runner = harness.app.listener_runner.lazy_listener_runner
    assert isinstance(runner, ThreadWorkRunner)
    return runner


def reference_of(harness: Harness, project_id: int) -> str:
    with harness.db.sessions() as session:
        return session.get_one(Project, project_id).reference


def test_a_confirm_acked_before_a_crash_is_made_after_it_and_answered(harness: Harness) -> None:
    alice = harness.user("alice")
    identity = SlackIdentity(alice.id, harness.slack.config.team_id)
    assert grant_credit(harness.db.sessions, identity, 50_00, key="g", reason="welcome").ok
    project = make_project(harness.db)
    harness.command(alice.id, f"pledge {reference_of(harness, project)} 20")
    runner = runner_of(harness)
    alive, runner.executor = runner.executor, DiesBeforeRunning()
    acked = harness.click(alice.id, "pledge_confirm")
    assert acked.status == 200
    assert (harness.count(Pledge), harness.count(AcceptedWork)) == (0, 1)

    runner.executor = alive
    assert runner.recover(now=utcnow()) == 0  # not before its lease has run out
    assert runner.recover(now=utcnow() + LEASE + timedelta(seconds=1)) == 1
    harness.settle()
    assert (harness.count(Pledge), harness.count(AcceptedWork)) == (1, 0)
    assert "Thank you!" in harness.reply_text(alice.id)


def test_work_that_keeps_failing_is_given_up_after_three_attempts(harness: Harness) -> None:
    alice = harness.user("alice")
    runner = runner_of(harness)
    alive, runner.executor = runner.executor, DiesBeforeRunning()
    harness.command(alice.id, "browse")
    later = utcnow()
    for _attempt in range(MAX_ATTEMPTS - 1):
        later += LEASE + timedelta(seconds=1)
        assert runner.recover(now=later) == 1
    runner.executor = alive
    assert runner.recover(now=later + LEASE + timedelta(seconds=1)) == 0
    assert harness.count(AcceptedWork) == 0


def test_work_done_leaves_nothing_behind(harness: Harness) -> None:
    alice = harness.user("alice")
    harness.command(alice.id, "browse")
    harness.open_home(alice.id)
    assert harness.count(AcceptedWork) == 0
