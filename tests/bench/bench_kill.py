"""Messages sent twice when a delivery worker is killed (kill -9) in the middle of a round.

Run: .venv/bin/python tests/bench/bench_kill.py [--db sqlite|postgres|both] [--rounds 3]

3,000 lenders each have one DM due. On SQLite one worker process delivers, is killed after
about a third, and a second finishes; on PostgreSQL two workers deliver side by side, one is
killed, the other and a replacement finish. Every message reaches its lender (the emulator
counts the posts it accepted per channel); what arrives twice is what a killed worker had
posted but not yet marked sent. Bar: at most one message in flight per sender thread of the
killed worker (4).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot.devtools.emulator import Emulator, EmulatorConfig, RateLimitConfig  # noqa: E402
from storage.db.clock import utcnow  # noqa: E402
from storage.db.database import Database  # noqa: E402
from storage.db.engine import make_engine  # noqa: E402
from storage.db.migrate import upgrade  # noqa: E402
from storage.installations.models import Workspace  # noqa: E402
from storage.lending.models import Lender  # noqa: E402
from storage.notifications import outbox  # noqa: E402
from storage.notifications.kinds import Kind  # noqa: E402
from storage.notifications.models import Notification, NotificationStatus  # noqa: E402
from tests.conftest import POSTGRES_URL  # noqa: E402

LENDERS = 3_000
SENDERS = 4
WORKER = f"""
import sys
from datetime import timedelta
from slack_sdk import WebClient
from bot.runtime.delivery import DeliverySettings, DeliveryWorker
from bot.runtime.send_limiter import RateLimits, WorkspaceRateLimiter
from bot.runtime.slack_client import SlackClient
from storage.db.engine import make_engine, make_sessionmaker

url, base_url, token = sys.argv[1:4]
DeliveryWorker(
    make_sessionmaker(make_engine(url)),
    SlackClient(WebClient(token=token, base_url=base_url)),
    WorkspaceRateLimiter(RateLimits(3_000.0, per_channel_per_second=100)),
    settings=DeliverySettings(senders={SENDERS}, batch_size=50, lease=timedelta(seconds=2)),
).drain()
"""


def database(kind: str) -> tuple[str, Callable[[], None]]:
    """A migrated database and its URL, with what removes it."""
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp()) / "kill.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url, lambda: path.unlink()
    schema = f"bench_kill_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return url, drop


def due_messages(db: Database, slack: Emulator) -> None:
    """One DM due for each of LENDERS lenders, awake around the clock."""
    users = [slack.add_user(f"kill{n}").id for n in range(LENDERS)]
    now = utcnow()
    with db.sessions() as session, session.begin():
        workspace = Workspace(org_key="T0KILL", team_id="T0KILL", active=True)
        session.add(workspace)
        session.flush()
        session.execute(
            insert(Lender),
            [
                {
                    "workspace_id": workspace.id,
                    "slack_user_id": user,
                    "created_at": now,
                    "work_start_minute": 0,
                    "work_end_minute": 24 * 60,
                    "work_days": 0b1111111,
                }
                for user in users
            ],
        )
        outbox.enqueue_select(
            session,
            kind=Kind.IDLE_CREDIT,
            targets=select(
                outbox.key("kill", Lender.id).label("dedupe_key"),
                Lender.workspace_id.label("workspace_id"),
                Lender.id.label("lender_id"),
                outbox.no_text().label("channel_id"),
                outbox.no_id().label("project_id"),
                outbox.no_id().label("circle_id"),
            ),
            payload={},
            now=now,
        )


def worker(url: str, slack: Emulator) -> subprocess.Popen[bytes]:
    arguments = [url, slack.base_url, slack.bot_token]
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *arguments], cwd=ROOT, env={"PYTHONPATH": str(ROOT)}
    )


def one_round(kind: str) -> tuple[int, int, int]:
    """(messages delivered, sent twice, rows leased at the kill)."""
    url, drop = database(kind)
    db = Database.on(make_engine(url))
    try:
        with Emulator(EmulatorConfig(rate_limits=RateLimitConfig.off())) as slack:
            due_messages(db, slack)

            def posted() -> list[str]:
                calls = slack.calls("chat.postMessage")
                return [str(call.args["channel"]) for call in calls if call.status == 200]

            workers = [worker(url, slack) for _ in range(1 if kind == "sqlite" else 2)]
            while len(posted()) < LENDERS // 3:
                time.sleep(0.01)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            with db.sessions() as session:
                leased = session.execute(
                    select(func.count()).where(Notification.status == NotificationStatus.SENDING)
                ).scalar_one()
            time.sleep(2.5)  # the killed worker's leases run out
            workers[0] = worker(url, slack)
            for process in workers:
                assert process.wait(timeout=300) == 0
            per_channel = Counter(posted())
            assert len(per_channel) == LENDERS, "every lender got their message"
            twice = sum(count - 1 for count in per_channel.values())
            return sum(per_channel.values()), twice, leased
    finally:
        db.dispose()
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print("| database | workers | round | delivered | sent twice | rows leased at the kill | bar |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind in kinds:
        for number in range(1, args.rounds + 1):
            delivered, twice, leased = one_round(kind)
            workers = 1 if kind == "sqlite" else 2
            print(
                f"| {kind} | {workers} | {number} | {delivered:,} | {twice} | {leased} "
                f"| {SENDERS} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
