"""Slash-command ack latency over HTTP: microlend's /lend beside a bare Bolt app (the floor).

Run: .venv/bin/python tests/bench/bench_ack.py [--requests 200] [--levels 1 10 50]

Both apps are served the same way, each in its own process (`ack_server.py`: waitress via
`bot.runtime.serving.start_in_thread`, as in production; microlend with its worker processes, as
`microlend serve` builds it), get the same signed `/lend browse` requests from the emulator's
sender, and post their answer to the emulator's response_url after the ack. Latency is the
time to the HTTP answer, i.e. the ack; the two apps take turns in rounds at each level.
Bar: microlend's p99 within 1.5x the floor's at 1, 10 and 50 concurrent requests, and every
answer posted.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


from bot.devtools.emulator import AppSender, Emulator, EmulatorConfig, RateLimitConfig
from bot.runtime.serving import EVENTS_PATH
from storage.db.database import open_database
from tests.factories import make_project

LEVELS = (1, 10, 50)
BAR = 1.5
# Rounds per level, alternating the two apps.
ROUNDS = 5


def serve_apart(kind: str, port: int, db_path: str, slack: Emulator) -> subprocess.Popen[str]:
    """Start one app in its own process, so the load generator and the emulator in this
    process do not share its interpreter lock, and wait until it answers."""
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.base_url,
    }
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("ack_server.py")), kind, str(port), db_path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def latencies(sender: AppSender, user_id: str, concurrency: int, requests: int) -> list[float]:
    def one(_: int) -> float:
        start = time.perf_counter()
        delivery = sender.slash_command(user_id, "/lend", "browse")
        assert delivery.status == 200, delivery.body
        return (time.perf_counter() - start) * 1000

    with ThreadPoolExecutor(concurrency) as pool:
        return sorted(pool.map(one, range(requests)))


def interleaved(
    senders: dict[str, AppSender], user_id: str, concurrency: int, requests: int
) -> tuple[dict[str, list[float]], int]:
    """Each app's latencies, measured in alternating rounds, so that whatever else the machine
    does during the run falls on both apps alike rather than on whichever ran at the time.
    This process's garbage collector waits meanwhile, as in timeit."""
    warm_up = min(requests, 20)
    for sender in senders.values():
        latencies(sender, user_id, concurrency, warm_up)
    samples: dict[str, list[float]] = {name: [] for name in senders}
    # As timeit does: a full collection here, among all the messages the emulator keeps,
    # pauses every request in flight for 100 ms or more, whichever app it happens to be.
    gc.collect()
    gc.disable()
    try:
        for _ in range(ROUNDS):
            for name, sender in senders.items():
                samples[name] += latencies(sender, user_id, concurrency, requests // ROUNDS)
    finally:
        gc.enable()
    sent = sum(len(sample) + warm_up for sample in samples.values())
    return {name: sorted(sample) for name, sample in samples.items()}, sent


def percentile(sorted_ms: list[float], share: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(share * len(sorted_ms)))]


def main() -> int:
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--levels", type=int, nargs="+", default=LEVELS)
    options = parser.parse_args()
    requests = options.requests
    with (
        tempfile.TemporaryDirectory() as directory,
        Emulator(EmulatorConfig(rate_limits=RateLimitConfig.off(), server_threads=4)) as slack,
    ):
        db_path = f"{directory}/bench.db"
        db = open_database(f"sqlite:///{db_path}")
        for _ in range(20):
            make_project(db)
        db.dispose()
        user = slack.add_user("bench")
        ports = {name: free_port() for name in ("floor", "microlend")}
        servers = {name: serve_apart(name, port, db_path, slack) for name, port in ports.items()}
        senders = {
            name: slack.connect(f"http://127.0.0.1:{port}{EVENTS_PATH}")
            for name, port in ports.items()
        }
        print(f"{'concurrent':>10} {'app':>10} {'p50 ms':>8} {'p99 ms':>8}")
        passed, sent = True, 0
        for level in options.levels:
            samples, commands = interleaved(senders, user.id, level, max(requests, level * 4))
            sent += commands
            p99 = {}
            for name, sample in samples.items():
                p99[name] = percentile(sample, 0.99)
                print(f"{level:>10} {name:>10} {percentile(sample, 0.5):>8.1f} {p99[name]:>8.1f}")
            ratio = p99["microlend"] / p99["floor"]
            passed &= ratio <= BAR
            print(f"{'':>10} {'ratio':>10} {'':>8} {ratio:>8.2f}  (bar {BAR})")
        passed &= all_answered(slack, sent)
        for server in servers.values():
            server.communicate("")
    return 0 if passed else 1


def all_answered(slack: Emulator, sent: int, timeout: float = 120.0) -> bool:
    """An ack is only half the job: every command's answer must reach its response_url."""
    deadline = time.monotonic() + timeout
    while len(slack.calls("response_url")) < sent and time.monotonic() < deadline:
        time.sleep(0.1)
    answered = len(slack.calls("response_url"))
    print(f"answers posted to response_url: {answered} of {sent} commands")
    return answered == sent


if __name__ == "__main__":
    sys.exit(main())
