"""Fan-out of one repayment round: enqueue (set-based) and delivery through the emulator.

Run: .venv/bin/python tests/bench/bench_fanout.py [--lenders 115000] [--projects 10000]
         [--per-minute 20000] [--workers 3] [--small 11500]

On PostgreSQL (MICROLEND_TEST_POSTGRES, private schemas): builds N lenders with two pledges
each to funded projects, records one instalment for every project with
``storage.repayments.recording.record_repayments`` (timed: that is the enqueue), then delivers with
worker *processes* sharing the emulator's workspace limit through the database's send budget,
as production workers do, and measures
the achieved rate against that limit, messages lost, messages sent twice, and each worker's peak
memory (its own VmHWM) for the small and the full round. Each round first measures a floor: as
many processes and threads doing nothing but post a fixed message through slack_sdk to an
emulator with its limits off. The machine's speed varies between runs; a floor near the limit
says the bar is out of reach that run, whatever microlend does. DMs are posted to the user id,
so there is no ``conversations.open`` and a lender's first round costs what any other round
does. Last, the time a full round takes at Slack's real limits, as-it-happens versus digests,
and a markdown table of the measurements for the README.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bot.devtools.emulator import Emulator, EmulatorConfig, RateLimitConfig, User  # noqa: E402
from storage.db.engine import make_engine, make_sessionmaker  # noqa: E402
from storage.db.migrate import upgrade  # noqa: E402
from storage.ledger.accounts import ensure_system_accounts  # noqa: E402
from storage.lending.rules import LendingRules  # noqa: E402
from storage.notifications.models import Notification, NotificationStatus  # noqa: E402
from storage.repayments.recording import RepaymentInput, record_repayments  # noqa: E402
from tests.conftest import POSTGRES_URL  # noqa: E402

NOW = datetime(2026, 1, 7, 10, 0)
PLEDGE = 2_500
SLACK_POSTS_PER_MINUTE = 600  # "several hundred"; what the emulator assumes by default

SEED_SQL = [
    "INSERT INTO workspaces (id, org_key, active) VALUES (1, 'T0BENCH', true)",
    "INSERT INTO partners (id, external_id, name, country) VALUES (1, 'p1', 'Partner', 'Peru')",
    """INSERT INTO lenders (id, workspace_id, slack_user_id, display_name, tz, notify_mode,
         work_start_minute, work_end_minute, work_days, autolend, relend_count, created_at)
       SELECT i, 1, 'U' || lpad(i::text, 9, '0'), '', 'UTC', 'as_it_happens', 0, 1440, 127,
              false, 0, :now FROM generate_series(1, :lenders) i""",
    """INSERT INTO accounts (lender_id, kind, balance)
       SELECT i, k, 0 FROM generate_series(1, :lenders) i,
              unnest(ARRAY['available', 'committed', 'outstanding', 'payroll']) k""",
    """INSERT INTO projects (id, reference, external_id, partner_id, borrower, purpose,
         country_code, country, sector, activity, borrower_genders, borrower_count, women_count,
         amount, funded, repaid, lost, term_months, repayment_interval, status, deadline,
         funded_at, tags)
       SELECT p, 'B' || p, 'b' || p, 1, 'Borrower ' || p, 'to buy stock', 'PE', 'Peru',
              'Retail', 'Shop', 'female', 1, 1, 1, 0, 0, 0, 12, 'monthly', 'funded', :now,
              :now, '' FROM generate_series(1, :projects) p""",
    """INSERT INTO pledges (lender_id, project_id, amount, from_credit, from_payroll, repaid,
         is_relend, refunded, created_at)
       SELECT i, 1 + ((i * s) % :projects), :pledge, 0, :pledge, 0, false, false, :now
       FROM generate_series(1, :lenders) i, (VALUES (1), (7)) v(s)""",
    """UPDATE projects p SET amount = t.total, funded = t.total
       FROM (SELECT project_id, SUM(amount) AS total FROM pledges GROUP BY project_id) t
       WHERE p.id = t.project_id""",
    """UPDATE accounts a SET balance = CASE a.kind WHEN 'outstanding' THEN s.total
                                                ELSE -s.total END
       FROM (SELECT lender_id, SUM(amount) AS total FROM pledges GROUP BY lender_id) s
       WHERE a.lender_id = s.lender_id AND a.kind IN ('outstanding', 'payroll')""",
    "ANALYZE",
]


@dataclass(frozen=True)
class Round:
    lenders: int
    projects: int
    enqueue_seconds: float
    notifications: int
    floor_per_minute: float
    delivery_seconds: float
    delivered: int
    lost: int
    twice: int
    # Outbox rows not marked sent once the workers are done: each must be settled, not left
    # leased (it would be sent again when its lease ran out).
    unsettled: int
    worker_peak_kib: int


def make_schema(lenders: int, projects: int) -> str:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    engine = schema_engine(schema)
    upgrade(engine)
    params = {"lenders": lenders, "projects": projects, "pledge": PLEDGE, "now": NOW}
    with engine.begin() as connection:
        for statement in SEED_SQL:
            connection.execute(text(statement), params)
    with make_sessionmaker(engine)() as session, session.begin():
        ensure_system_accounts(session)
    engine.dispose()
    return schema


def schema_engine(schema: str):  # type: ignore[no-untyped-def]
    return make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})


def drop_schema(schema: str) -> None:
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def enqueue_round(schema: str, projects: int) -> tuple[float, int]:
    engine = schema_engine(schema)
    items = [
        RepaymentInput(project, 250, date(2026, 1, 7), f"bench-{project}")
        for project in range(1, projects + 1)
    ]
    started = time.perf_counter()
    result = record_repayments(make_sessionmaker(engine), items, LendingRules(), now=NOW)
    elapsed = time.perf_counter() - started
    assert result.recorded == projects, result.refused[:3]
    with engine.connect() as connection:
        queued = connection.execute(select(func.count()).select_from(Notification)).scalar_one()
    engine.dispose()
    return elapsed, queued


WORKER = """
import sys
from datetime import datetime
from slack_sdk import WebClient
from bot.runtime.delivery import POST_MESSAGE_BUDGET, DeliverySettings, DeliveryWorker, post_limits
from bot.runtime.send_limiter import WorkspaceRateLimiter
from bot.runtime.slack_client import SlackClient
from storage.db.engine import make_engine, make_sessionmaker
from storage.send_budget import SharedBudget

url, schema, base_url, token, per_minute, senders = sys.argv[1:7]
engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
factory = make_sessionmaker(engine)
# The whole workspace limit, shared through the database by every worker (as in production).
budget = SharedBudget(factory, POST_MESSAGE_BUDGET)
stats = DeliveryWorker(
    factory,
    SlackClient(WebClient(token=token, base_url=base_url)),
    WorkspaceRateLimiter(post_limits(float(per_minute)), budget=budget),
    settings=DeliverySettings(senders=int(senders), batch_size=200),
    clock=lambda: datetime(2026, 1, 7, 10, 5),
).drain()
# VmHWM, not ru_maxrss: after fork and exec Linux reports the parent's peak as the child's
# ru_maxrss, and the parent here is the emulator holding every lender and message.
status = open("/proc/self/status").read().splitlines()
peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
print(stats.messages_sent, peak_kib, flush=True)
"""


FLOOR = """
import sys, threading, time
from slack_sdk import WebClient

base_url, token, channel, start_at, seconds, threads = sys.argv[1:7]
client = WebClient(token=token, base_url=base_url)
time.sleep(max(0.0, float(start_at) - time.time()))
deadline = time.time() + float(seconds)
counts = []

def post():
    done = 0
    while time.time() < deadline:
        client.chat_postMessage(channel=channel, text="floor")
        done += 1
    counts.append(done)

senders = [threading.Thread(target=post) for _ in range(int(threads))]
for sender in senders:
    sender.start()
for sender in senders:
    sender.join()
print(sum(counts), flush=True)
"""
FLOOR_SECONDS = 8.0
SENDERS = 6


def post_floor(workers: int) -> float:
    """chat.postMessage calls a minute that ``workers`` processes of ``SENDERS`` threads make
    when posting is all they do, to an emulator with no limits."""
    user = User(id="U000000001", name="floor")
    config = EmulatorConfig(team_id="T0BENCH", users=[user], rate_limits=RateLimitConfig.off())
    with Emulator(config) as slack:
        # All processes start posting at once, after every one has imported slack_sdk.
        start_at = time.time() + 3.0
        args = [slack.base_url, slack.bot_token, user.id, str(start_at), str(FLOOR_SECONDS)]
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", FLOOR, *args, str(SENDERS)], stdout=subprocess.PIPE
            )
            for _ in range(workers)
        ]
        posted = sum(int(process.communicate()[0]) for process in processes)
    return posted / FLOOR_SECONDS * 60


def deliver(
    schema: str, lenders: int, per_minute: int, workers: int
) -> tuple[float, int, int, int, int]:
    users = [User(id=f"U{n:09d}", name=f"u{n}") for n in range(1, lenders + 1)]
    limits = RateLimitConfig(post_message_workspace_per_minute=per_minute)
    config = EmulatorConfig(team_id="T0BENCH", users=users, rate_limits=limits)
    with Emulator(config) as slack:
        command = [sys.executable, "-c", WORKER, POSTGRES_URL, schema, slack.base_url]
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [*command, slack.bot_token, str(per_minute), str(SENDERS)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
            )
            for _ in range(workers)
        ]
        # As timeit does: a full collection among the 100,000 messages the emulator keeps
        # stalls every worker's call in flight, and a slot missed then is lost to the rate.
        gc.collect()
        gc.disable()
        try:
            outputs = [process.communicate()[0].decode().split() for process in processes]
        finally:
            gc.enable()
        accepted = [call for call in slack.calls("chat.postMessage") if call.status == 200]
        posts = Counter(call.args["channel"] for call in accepted)
        # From the first post to the last, as Slack would see it: process start-up excluded.
        elapsed = (
            accepted[-1].at - accepted[0].at if len(accepted) > 1 else time.perf_counter() - started
        )
    peak = max(int(output[1]) for output in outputs)
    delivered = sum(posts.values())
    lost = lenders - len(posts)
    twice = sum(count - 1 for count in posts.values())
    return elapsed, delivered, lost, twice, peak


def run_round(lenders: int, projects: int, per_minute: int, workers: int) -> Round:
    floor = post_floor(workers)
    schema = make_schema(lenders, projects)
    try:
        enqueue_seconds, queued = enqueue_round(schema, projects)
        elapsed, delivered, lost, twice, peak = deliver(schema, lenders, per_minute, workers)
        left = unsettled(schema)
    finally:
        drop_schema(schema)
    return Round(
        lenders,
        projects,
        enqueue_seconds,
        queued,
        floor,
        elapsed,
        delivered,
        lost,
        twice,
        left,
        peak,
    )


def unsettled(schema: str) -> int:
    engine = schema_engine(schema)
    with engine.connect() as connection:
        left: int = connection.execute(
            select(func.count()).where(Notification.status != NotificationStatus.SENT)
        ).scalar_one()
    engine.dispose()
    return left


def print_round(result: Round, per_minute: int) -> None:
    rate = result.delivered / result.delivery_seconds * 60
    floor_note = f"{result.floor_per_minute / per_minute:.1f}x the limit"
    rows = [
        ("enqueue (record_repayments)", f"{result.enqueue_seconds:.1f} s", result.notifications),
        ("delivery", f"{result.delivery_seconds:.1f} s", f"{rate:,.0f}/min"),
        (f"rate / limit ({per_minute:,}/min)", f"{rate / per_minute:.2f}", ""),
        ("floor: bare posts, no limit", f"{result.floor_per_minute:,.0f}/min", floor_note),
        ("lost / sent twice", f"{result.lost} / {result.twice}", ""),
        ("outbox rows not marked sent", f"{result.unsettled}", ""),
        ("worker peak memory", f"{result.worker_peak_kib / 1024:.1f} MiB", ""),
    ]
    print(f"\n{result.lenders:,} lenders, {result.projects:,} projects")
    for label, value, note in rows:
        print(f"  {label:<32} {value:>12}  {note}")


def print_markdown(rounds: list[Round], per_minute: int) -> None:
    """The measurements as the README's table."""
    print(
        f"\n| Lenders | Projects | Enqueue | Delivered | Rate / {per_minute:,}/min "
        "| Lost / twice | Worker peak memory | Floor (bare posts) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rounds:
        rate = r.delivered / r.delivery_seconds * 60
        print(
            f"| {r.lenders:,} | {r.projects:,} | {r.enqueue_seconds:.1f} s "
            f"| {r.delivered:,} in {r.delivery_seconds:.0f} s | {rate / per_minute:.2f} "
            f"| {r.lost} / {r.twice} | {r.worker_peak_kib / 1024:.0f} MiB "
            f"| {r.floor_per_minute:,.0f}/min |"
        )


def hours(messages: int, per_minute: int) -> str:
    return f"{messages / per_minute / 60:6.1f} h"


def print_real_limits(lenders: int) -> None:
    posts = SLACK_POSTS_PER_MINUTE
    print(f"\nA round for {lenders:,} lenders at Slack's limits")
    # One call per DM (posted to the user id), so the first round is no slower than the next.
    print(f"  chat.postMessage at {posts}/min, first or any round  {hours(lenders, posts)}")
    for rounds in (1, 4, 20):
        happens, digest = hours(rounds * lenders, posts), hours(lenders, posts)
        print(
            f"  {rounds:2d} rounds/week: as it happens {happens}/week, weekly digest {digest}/week"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lenders", type=int, default=115_000)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=11_500)
    parser.add_argument("--per-minute", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for lenders in (args.small, args.lenders):
        projects = max(1, args.projects * lenders // args.lenders)
        rounds.append(run_round(lenders, projects, args.per_minute, args.workers))
        print_round(rounds[-1], args.per_minute)
    small, full = rounds
    print(f"\npeak memory full / small: {full.worker_peak_kib / small.worker_peak_kib:.2f}")
    print_real_limits(args.lenders)
    print_markdown(rounds, args.per_minute)
    return 0


if __name__ == "__main__":
    sys.exit(main())
