"""A waitress server in a background thread stops cleanly, even after its trigger is gone."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable

from waitress.server import BaseWSGIServer, create_server

from bot.runtime.waitress_thread import bound_port, stop_server_thread


def hello(_environ: dict[str, object], start_response: Callable[..., object]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def serve() -> tuple[BaseWSGIServer, threading.Thread]:
    server = create_server(hello, host="127.0.0.1", port=0, threads=1)
    assert isinstance(server, BaseWSGIServer)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_a_running_server_stops_and_frees_its_port() -> None:
    server, thread = serve()
    port = bound_port(server)

    stop_server_thread(server, thread)

    assert not thread.is_alive()
    assert refuses_connections(port)


def test_a_server_whose_trigger_is_closed_still_stops() -> None:
    server, thread = serve()
    port = bound_port(server)
    # As the loop does when polling the trigger fails (types-waitress declares it an int).
    server.trigger.close()  # type: ignore[attr-defined]

    stop_server_thread(server, thread)

    assert not thread.is_alive()
    assert refuses_connections(port)
