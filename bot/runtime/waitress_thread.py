"""Stopping a waitress server that runs in a background thread: the app's in tests and
benchmarks (`bot.runtime.serving.start_in_thread`) and the emulator's."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from waitress.server import BaseWSGIServer
from waitress.wasyncore import close_all


class _Trigger(Protocol):
    def pull_trigger(self, thunk: Callable[[], None]) -> None: ...


class _Running(Protocol):
    """What a bound BaseWSGIServer has that types-waitress leaves out (the port, the socket
    map) or mistypes (it declares the trigger an int, and a trigger's thunks as taking an
    argument: waitress calls them with none)."""

    effective_port: int
    _map: Mapping[int, Any]
    trigger: _Trigger


def bound_port(server: BaseWSGIServer) -> int:
    """The port the server listens on: the one port 0 chose."""
    return int(cast(_Running, server).effective_port)


def stop_server_thread(
    server: BaseWSGIServer, thread: threading.Thread, timeout: float = 5.0
) -> None:
    """Stop the workers, close every socket, and wait for the loop's thread to end."""
    running = cast(_Running, server)
    # Workers first, so none touches a socket (or pulls the trigger) after it is closed.
    server.task_dispatcher.shutdown()

    def close() -> None:
        close_all(running._map, ignore_all=True)

    try:
        # Emptying the socket map from inside waitress's own loop ends the loop without
        # racing its bookkeeping.
        running.trigger.pull_trigger(close)
    except OSError:
        # The loop closed its trigger already (it does when polling the trigger fails; seen
        # once in CI as EBADF here), so the thunk would never run: close from this thread.
        close()
    thread.join(timeout)
