"""Serving the Bolt app: waitress over HTTP (production), or Socket Mode behind a firewall."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from waitress.server import BaseWSGIServer, create_server

from bot.runtime.accepted_work import ThreadWorkRunner
from bot.runtime.app import create_app, services_for
from bot.runtime.background import start_background
from bot.runtime.request_check import check
from bot.runtime.settings import Settings, SettingsError
from bot.runtime.waitress_thread import bound_port, stop_server_thread
from bot.runtime.work_processes import ProcessLazyListenerRunner, run_lazy_in_processes
from storage.db.database import Database, open_database

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
DEFAULT_THREADS = 8

logger = logging.getLogger(__name__)

# Headers Bolt sets itself when it dispatches a request again to a lazy listener (as the worker
# processes do). Slack never sends them, and from outside they would let a signed replay skip
# the ack and the event dedupe, so they never get past the server.
BOLT_INTERNAL_HEADERS = "HTTP_X_SLACK_BOLT_"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def wsgi_app(app: App, db: Database, signing_secret: str) -> WsgiApp:
    """Commands, interactivity and events on one URL (as `app.yaml` says), plus a health check."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = (environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
        if app.oauth_flow is not None and route in (
            ("GET", app.oauth_flow.install_path),
            ("GET", app.oauth_flow.redirect_uri_path),
        ):
            # The install page and Slack's redirect back: a browser's, unsigned by nature.
            return bolt(environ, start_response)
        if route == ("POST", EVENTS_PATH):
            outside = {k: v for k, v in environ.items() if not k.startswith(BOLT_INTERNAL_HEADERS)}
            rejected = check(outside, signing_secret)
            if rejected is not None:
                return _plain(start_response, rejected.status, rejected.reason)
            return bolt(outside, start_response)
        if route == ("GET", HEALTH_PATH):
            healthy = _database_answers(db)
            return _plain(
                start_response,
                "200 OK" if healthy else "503 Service Unavailable",
                "ok" if healthy else "database unavailable",
            )
        return _plain(start_response, "404 Not Found", "not found")

    return application


def _database_answers(db: Database) -> bool:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        logger.exception("health check: the database does not answer")
        return False
    return True


def _plain(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


class RunningServer(NamedTuple):
    """A server started in a background thread: where it listens and how to stop it."""

    port: int
    stop: Callable[[], None]


def start_in_thread(
    app: App,
    db: Database,
    *,
    signing_secret: str,
    host: str = "127.0.0.1",
    port: int = 0,
    threads: int = DEFAULT_THREADS,
) -> RunningServer:
    """Serve on a background thread (port 0 picks a free port): for tests and benchmarks."""
    server = _create(wsgi_app(app, db, signing_secret), host, port, threads)
    thread = threading.Thread(target=server.run, name="microlend-http", daemon=True)
    thread.start()

    def stop() -> None:
        stop_server_thread(server, thread)

    return RunningServer(bound_port(server), stop)


ACK_SWITCH_INTERVAL = 0.001


def ready_for_acks() -> None:
    """Tune the interpreter of a serving process for short acks, once the app is built.

    For `serve`, `run` and the ack benchmark; not for tests, which start many servers in one
    process and would pay a full collection at each."""
    # An ack waits for the interpreter lock while other threads work; a 1 ms switch interval
    # (not Python's 5 ms) keeps that wait short under load.
    sys.setswitchinterval(ACK_SWITCH_INTERVAL)
    # A full garbage collection walks every object, and a built app (ORM mappers, compiled
    # templates, Bolt) is hundreds of thousands of them: a 100 ms pause for every ack in
    # flight. Frozen, they are never walked again; what requests allocate still is.
    gc.collect()
    gc.freeze()


def _create(application: WsgiApp, host: str, port: int, threads: int) -> BaseWSGIServer:
    server = create_server(application, host=host, port=port, threads=threads, ident="microlend")
    assert isinstance(server, BaseWSGIServer)  # one host and port give one socket
    return server


class OpenApp(NamedTuple):
    """The production app on its database, with its worker processes (if any) to close."""

    app: App
    db: Database
    workers: ProcessLazyListenerRunner | None

    def recover(self) -> int:
        """Take over the work other processes acknowledged and left undone."""
        runner = self.workers or self.app.listener_runner.lazy_listener_runner
        assert isinstance(runner, ProcessLazyListenerRunner | ThreadWorkRunner)
        return runner.recover()

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
        self.db.dispose()


def open_app(settings: Settings) -> OpenApp:
    """The app as `serve` and `run` build it: its database, listeners and worker processes."""
    settings.require("the app", *settings.installed_by())
    db = open_database(settings.database_url)
    app = create_app(settings, services_for(settings, db))
    return OpenApp(app, db, run_lazy_in_processes(app, settings, db.sessions))


def serve(settings: Settings, host: str = "0.0.0.0", port: int = 3000) -> None:
    """HTTP mode (`microlend serve`): block serving Slack's requests on waitress."""
    if not settings.slack_signing_secret:
        raise SettingsError("SLACK_SIGNING_SECRET is required in HTTP mode.")
    opened = open_app(settings)
    background = start_background(settings, opened.db, recover=opened.recover)
    logger.info("serving %s and %s on %s:%d", EVENTS_PATH, HEALTH_PATH, host, port)
    application = wsgi_app(opened.app, opened.db, settings.slack_signing_secret)
    server = _create(application, host, port, DEFAULT_THREADS)
    ready_for_acks()
    try:
        server.run()
    finally:
        background.stop()
        opened.close()


def run_socket_mode(settings: Settings) -> None:
    """Socket Mode (`microlend run`): no public URL needed, for a laptop or behind a firewall."""
    if not settings.slack_app_token:
        raise SettingsError("SLACK_APP_TOKEN (xapp-...) is required for Socket Mode.")
    opened = open_app(settings)
    background = start_background(settings, opened.db, recover=opened.recover)
    handler = SocketModeHandler(opened.app, settings.slack_app_token)
    ready_for_acks()
    try:
        handler.start()  # type: ignore[no-untyped-call]  # slack_bolt leaves start() unannotated
    finally:
        background.stop()
        opened.close()
