"""Stopping a waitress server that runs in a background thread: the app's in tests and
benchmarks (`bot.runtime.serving.start_in_thread`) and the emulator's."""

from __future__ import annotations

import threading

from waitress.server import BaseWSGIServer, MultiSocketServer
from waitress.wasyncore import close_all


def stop_server_thread(
    server: BaseWSGIServer | MultiSocketServer, thread: threading.Thread, timeout: float = 5.0
) -> None:
    """Stop the workers, close every socket, and wait for the loop's thread to end."""
    # Workers first, so none touches a socket (or pulls the trigger) after it is closed.
    server.task_dispatcher.shutdown()

    def close() -> None:
        close_all(server._map, ignore_all=True)

    try:
        # Emptying the socket map from inside waitress's own loop ends the loop without
        # racing its bookkeeping.
        server.trigger.pull_trigger(close)  # type: ignore[union-attr]
    except OSError:
        # The loop closed its trigger already (it does when polling the trigger fails; seen
        # once in CI as EBADF here), so the thunk would never run: close from this thread.
        close()
    thread.join(timeout)
