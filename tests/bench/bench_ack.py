"""Slash-command ack latency over HTTP: microlend's /lend beside a bare Bolt app (the floor).

Run: .venv/bin/python tests/bench/bench_ack.py [--requests 200]

Both apps are served the same way (waitress via `bot.server.start_in_thread`), get the same
signed `/lend browse` requests from the emulator's sender, and post their answer to the
emulator's response_url after the ack. Latency is the time to the HTTP answer, i.e. the ack.
Bar: microlend's p99 within 1.5x the floor's at 1, 10 and 50 concurrent requests.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.app import create_app, services_for
from bot.emulator import AppSender, Emulator, EmulatorConfig, RateLimitConfig
from bot.server import EVENTS_PATH, RunningServer, start_in_thread
from bot.settings import Settings
from storage.database import open_database
from tests.factories import make_project

LEVELS = (1, 10, 50)
BAR = 1.5


def floor_app(settings: Settings) -> App:
    """A bare Bolt app whose /lend acks, then answers with one line: the least any app does."""
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    app = App(signing_secret=settings.slack_signing_secret, client=client)

    @app.command("/lend")
    def lend(ack: Ack, respond: Respond) -> None:
        ack()
        respond(text="ok")

    return app


def latencies(sender: AppSender, user_id: str, concurrency: int, requests: int) -> list[float]:
    def one(_: int) -> float:
        start = time.perf_counter()
        delivery = sender.slash_command(user_id, "/lend", "browse")
        assert delivery.status == 200, delivery.body
        return (time.perf_counter() - start) * 1000

    with ThreadPoolExecutor(concurrency) as pool:
        return sorted(pool.map(one, range(requests)))


def percentile(sorted_ms: list[float], share: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(share * len(sorted_ms)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    requests = parser.parse_args().requests
    with (
        tempfile.TemporaryDirectory() as directory,
        Emulator(EmulatorConfig(rate_limits=RateLimitConfig.off(), server_threads=4)) as slack,
    ):
        db = open_database(f"sqlite:///{directory}/bench.db")
        for _ in range(20):
            make_project(db)
        settings = Settings(
            slack_bot_token=slack.bot_token,
            slack_signing_secret=slack.signing_secret,
            slack_api_url=slack.base_url,
        )
        user = slack.add_user("bench")
        servers: dict[str, RunningServer] = {
            "floor": start_in_thread(floor_app(settings), db),
            "microlend": start_in_thread(create_app(settings, services_for(settings, db)), db),
        }
        senders = {
            name: slack.connect(f"http://127.0.0.1:{server.port}{EVENTS_PATH}")
            for name, server in servers.items()
        }
        print(f"{'concurrent':>10} {'app':>10} {'p50 ms':>8} {'p99 ms':>8}")
        passed = True
        for level in LEVELS:
            p99 = {}
            for name, sender in senders.items():
                latencies(sender, user.id, level, min(requests, 20))  # warm up
                sample = latencies(sender, user.id, level, max(requests, level * 4))
                p99[name] = percentile(sample, 0.99)
                print(f"{level:>10} {name:>10} {percentile(sample, 0.5):>8.1f} {p99[name]:>8.1f}")
            ratio = p99["microlend"] / p99["floor"]
            passed &= ratio <= BAR
            print(f"{'':>10} {'ratio':>10} {'':>8} {ratio:>8.2f}  (bar {BAR})")
        for server in servers.values():
            server.stop()
        db.dispose()
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
