"""One app of the ack benchmark, served alone in its own process, as in production.

Run by ``bench_ack.py``: ``python tests/bench/ack_server.py floor|microlend PORT DB_PATH``
with the Slack settings in the environment. It serves until its standard input closes.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.runtime.serving import open_app, ready_for_acks, start_in_thread
from bot.runtime.settings import Settings, load_settings
from storage.db.database import open_database


def floor_app(settings: Settings) -> App:
    """A bare Bolt app whose /lend acks, then answers with one line: the least any app does."""
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    app = App(signing_secret=settings.slack_signing_secret, client=client)

    @app.command("/lend")
    def lend(ack: Ack, respond: Respond) -> None:
        ack()
        respond(text="ok")

    return app


def main() -> None:
    # Waitress warns at every queued request; under a deliberate load that is the point.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    kind, port, db_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    settings = replace(load_settings(), database_url=f"sqlite:///{db_path}")
    if kind == "floor":
        db = open_database(settings.database_url)
        app, close = floor_app(settings), db.dispose
    else:
        opened = open_app(settings)  # as `microlend serve` builds it, worker processes and all
        app, db, close = opened.app, opened.db, opened.close
    secret = settings.slack_signing_secret or ""
    server = start_in_thread(app, db, signing_secret=secret, port=port)
    ready_for_acks()  # as `microlend serve` does, for both apps
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()
    close()


if __name__ == "__main__":
    main()
