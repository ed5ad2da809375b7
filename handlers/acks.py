"""Ack at once, answer later: the shape of every listener whose answer takes real work.

Bolt runs even the ack part of a listener on its executor, so under load an ack would queue
behind other people's answers. Listeners registered here ack in the request thread and leave
the answer to a Bolt lazy listener, which `microlend serve` runs in a worker process
(`bot/runtime/work_processes.py`) and the console and tests run on a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt import Ack, App, BoltResponse

Answer = TypeVar("Answer", bound=Callable[..., None])


def ack_now(ack: Ack, next_: Callable[[], BoltResponse]) -> BoltResponse:
    """Ack in the request thread, before the listener waits for a worker."""
    ack()
    return next_()


def acked() -> None:
    """The listener's own ack part: `ack_now` (or Bolt, for events) has acked already."""


def answer_later(register: Callable[..., Any]) -> Callable[[Answer], Answer]:
    """Decorate the answer of `register` (``app.command(...)``, ``app.action(...)``,
    ``app.event(...)``) so that it runs as a lazy listener after an immediate ack.

    Lazy functions are found again by name in the worker, so each answer's name must be unique
    within its listener (it is: one answer each).
    """

    def decorate(answer: Answer) -> Answer:
        register(ack=acked, lazy=[answer])
        return answer

    return decorate


def on_command(app: App, command: str) -> Callable[[Answer], Answer]:
    """A slash command: acked at once (empty: the answer follows), answered later."""
    return answer_later(app.command(command, middleware=[ack_now]))


def on_action(app: App, action_id: str) -> Callable[[Answer], Answer]:
    """A button: acked at once, answered later."""
    return answer_later(app.action(action_id, middleware=[ack_now]))


def on_event(app: App, event: str) -> Callable[[Answer], Answer]:
    """An event: Bolt acks it at once by itself; answered later."""
    return answer_later(app.event(event))
