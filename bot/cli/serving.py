"""Running the app: `serve` (HTTP), `run` (Socket Mode) and `worker` (delivery alone)."""

from __future__ import annotations

import argparse
import signal
import threading

from bot.cli.common import Subcommands, command, counted
from bot.runtime.settings import load_settings


def add(commands: Subcommands) -> None:
    served = command(commands, "serve", "Serve Slack over HTTP (POST /slack/events).", _serve)
    served.add_argument("--host", default="0.0.0.0", help="address to listen on")
    served.add_argument("--port", type=int, default=3000, help="port to listen on")
    command(commands, "run", "Connect to Slack in Socket Mode (needs SLACK_APP_TOKEN).", _run)
    command(commands, "worker", "Deliver notifications from the outbox until stopped.", _worker)


def _serve(args: argparse.Namespace) -> int:
    from bot.runtime.serving import serve

    settings = load_settings()
    settings.require("serve", *settings.installed_by(), "SLACK_SIGNING_SECRET")
    serve(settings, args.host, args.port)
    return 0


def _run(_args: argparse.Namespace) -> int:
    from bot.runtime.serving import run_socket_mode

    settings = load_settings()
    settings.require("run", *settings.installed_by(), "SLACK_APP_TOKEN")
    run_socket_mode(settings)
    return 0


def _worker(_args: argparse.Namespace) -> int:
    from bot.runtime.delivery import run_worker

    settings = load_settings()
    settings.require("worker", *settings.installed_by())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stats = run_worker(settings, stop=stop)
    except KeyboardInterrupt:
        stop.set()
        return 0
    messages, rows = (
        counted(stats.messages_sent, "message"),
        counted(stats.rows_sent, "notification"),
    )
    print(f"sent {messages} for {rows}")
    return 0
