"""The notification pipeline end to end: lending operations -> outbox -> worker -> emulator."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text

from bot.devtools.emulator import (
    Call,
    Emulator,
    EmulatorConfig,
    RateLimitConfig,
    validate_message_blocks,
)
from bot.runtime.delivery import (
    POST_MESSAGE_BUDGET,
    DeliverySettings,
    DeliveryWorker,
    build_worker,
    list_outbox,
    retry_notification,
)
from bot.runtime.send_limiter import RateLimits, WorkspaceRateLimiter
from bot.runtime.settings import Settings
from bot.runtime.slack_client import (
    RateLimited,
    SlackClient,
    SlackDeliveryError,
    Unsendable,
)
from storage.circles.statistics import CircleWeek
from storage.db.database import Database
from storage.lending.models import Lender, NotifyMode
from storage.lending.pledges import PledgeRequest, pledge
from storage.lending.rules import LendingRules
from storage.notifications import outbox
from storage.notifications.delivery_queue import OutboxView
from storage.notifications.facts import (
    Alert,
    BrokenRule,
    CirclePost,
    Invite,
    LenderNews,
    ProjectFacts,
    Stake,
)
from storage.notifications.kinds import Kind
from storage.notifications.models import Notification, NotificationStatus, SendBudget
from storage.notifications.send_budget import SharedBudget
from storage.projects.lifecycle import expire_due_projects
from storage.projects.models import ProjectStatus
from storage.repayments.recording import RepaymentInput, record_repayment
from templates.render import RenderedMessage, render_message
from tests.conftest import POSTGRES_URL
from tests.factories import make_lender, make_project
from tests.slack_models import assert_calls_valid, assert_valid_blocks

WEDNESDAY_10AM = datetime(2026, 1, 7, 10, 0)
FAST = RateLimits(per_minute=60_000, per_channel_per_second=100)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def slack() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(rate_limits=RateLimitConfig(scale=100))) as emulator:
        yield emulator
        assert_calls_valid(emulator.calls())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WEDNESDAY_10AM)


def make_worker(
    db: Database,
    slack: Emulator,
    clock: FakeClock,
    *,
    client: SlackClient | None = None,
    limits: RateLimits = FAST,
    limiter: WorkspaceRateLimiter | None = None,
    **settings: object,
) -> DeliveryWorker:
    return DeliveryWorker(
        db.sessions,
        client or SlackClient(slack.client()),
        limiter or WorkspaceRateLimiter(limits),
        settings=DeliverySettings(senders=4, idle_seconds=0.01, **settings),  # type: ignore[arg-type]
        clock=clock,
    )


def lender_for(db: Database, slack: Emulator, name: str, **prefs: object) -> tuple[int, str]:
    user = slack.add_user(name)
    lender_id = make_lender(db, user_id=user.id)
    if prefs:
        with db.sessions() as session, session.begin():
            lender = session.get(Lender, lender_id)
            for key, value in prefs.items():
                setattr(lender, key, value)
    return lender_id, user.id


def dm_texts(slack: Emulator, user_id: str) -> list[str]:
    return [message.text + "\n" + str(message.blocks) for message in slack.dms(user_id)]


def statuses(db: Database) -> Counter[str]:
    with db.sessions() as session:
        rows = session.execute(select(Notification.status, func.count()).group_by("status"))
        return Counter({str(status): count for status, count in rows})


def funded_project(
    db: Database, rules: LendingRules, lenders: list[int], amounts: list[int], now: datetime
) -> int:
    project_id = make_project(db, sum(amounts), deadline=now + timedelta(days=30))
    for lender, amount in zip(lenders, amounts, strict=True):
        request = PledgeRequest(lender, project_id, amount)
        assert pledge(db.sessions, request, rules, key=None, now=now).ok
    return project_id


def test_a_repayment_reaches_each_lender_once_with_their_numbers(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    people = [lender_for(db, slack, name) for name in ("ana", "ben", "chloe")]
    project_id = funded_project(db, rules, [p for p, _ in people], [3_333, 3_333, 3_334], clock())
    worker = make_worker(db, slack, clock)
    worker.drain()
    assert all(len(slack.dms(user)) == 1 for _, user in people)  # "fully funded"
    item = RepaymentInput(project_id, 1_000, date(2026, 1, 7), "r1")
    assert record_repayment(db.sessions, item, rules, now=clock()).ok

    stats = worker.drain()

    assert stats.messages_sent == 3
    ana, chloe = dm_texts(slack, people[0][1])[-1], dm_texts(slack, people[2][1])[-1]
    assert "€3.33 came back to you" in ana
    assert "€3.33 of the €33.33 you lent repaid (9%)" in ana
    assert "€3.34 came back to you" in chloe
    assert "Your available credit: *€3.34*" in chloe
    assert "'relend'" in chloe and "'credit_open'" in chloe
    assert statuses(db) == {"sent": 6}


def test_what_waits_for_one_lender_is_folded_into_one_message(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    (lender, user), (other, _) = lender_for(db, slack, "dana"), lender_for(db, slack, "eli")
    projects = [funded_project(db, rules, [lender, other], [2_000, 2_000], clock()) for _ in "ab"]
    for number, project_id in enumerate(projects):
        item = RepaymentInput(project_id, 400, date(2026, 1, 7), f"fold-{number}")
        assert record_repayment(db.sessions, item, rules, now=clock()).ok

    make_worker(db, slack, clock).drain()

    [message] = dm_texts(slack, user)
    assert "*€4.00* came back to you from 2 loans" in message
    # Both were funded and have started repaying before the news went out: the repayments
    # tell it, and no "fully funded: will now be disbursed" stands beside them.
    assert "Fully funded" not in message and "disbursed" not in message


def test_expiry_sends_refund_dms_with_similar_projects(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    lender, user = lender_for(db, slack, "fay")
    doomed = make_project(db, 50_000, deadline=clock() + timedelta(days=1))
    similar = [make_project(db, 10_000, deadline=clock() + timedelta(days=20)) for _ in range(4)]
    assert pledge(
        db.sessions, PledgeRequest(lender, doomed, 2_500), rules, key=None, now=clock()
    ).ok
    clock.advance(days=1)

    assert expire_due_projects(db.sessions, now=clock()).refunded_pledges == 1
    make_worker(db, slack, clock).drain()

    [message] = slack.dms(user)
    assert message.text == "€25.00 is back in your credit"
    lend_values = [
        block["accessory"]["value"]
        for block in message.blocks
        if block.get("accessory", {}).get("action_id") == "lend"
    ]
    projects = {json.loads(value)["project"] for value in lend_values}
    assert len(lend_values) == 3 and projects <= set(similar)


def test_a_weekly_digest_sums_up_a_week_of_repayments_in_one_message(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    monday = datetime(2026, 1, 5, 9, 30)
    clock.now = monday
    lender, user = lender_for(db, slack, "gus", notify_mode=NotifyMode.WEEKLY)
    project_id = funded_project(db, rules, [lender], [30_000], clock())
    worker = make_worker(db, slack, clock)
    for number in range(30):
        clock.now = monday + timedelta(hours=5 * number)
        item = RepaymentInput(project_id, 100, clock().date(), f"w{number}")
        assert record_repayment(db.sessions, item, rules, now=clock()).ok
        worker.drain()
    assert slack.dms(user) == []

    clock.now = datetime(2026, 1, 12, 9, 0)  # the next Monday, start of working hours
    worker.drain()

    [message] = dm_texts(slack, user)
    assert "Your weekly digest: €30.00 came back to you" in message
    assert "€30.00 of the €300.00 you lent repaid (10%)" in message
    assert statuses(db) == {"sent": 31}


def test_nothing_is_sent_outside_working_hours_in_the_lenders_time_zone(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    # Wednesday 10:00 UTC is 19:00 in Tokyo: after hours there.
    lender, user = lender_for(db, slack, "hana", tz="Asia/Tokyo")
    funded_project(db, rules, [lender], [2_000], clock())
    worker = make_worker(db, slack, clock)

    assert worker.drain().deferred == 1
    assert slack.dms(user) == []
    with db.sessions() as session:
        due = session.execute(select(Notification.due_at)).scalar_one()
    assert due == datetime(2026, 1, 8, 0, 0)  # Thursday 09:00 in Tokyo

    clock.now = due - timedelta(minutes=1)
    worker.drain()
    assert slack.dms(user) == []
    clock.now = due
    worker.drain()
    assert len(slack.dms(user)) == 1


def test_off_and_uninstalled_are_skipped(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    quiet, quiet_user = lender_for(db, slack, "ivy", notify_mode=NotifyMode.OFF)
    funded_project(db, rules, [quiet], [2_000], clock())

    make_worker(db, slack, clock).drain()

    assert slack.dms(quiet_user) == []
    assert statuses(db) == {"skipped": 1}


class FlakyClient(SlackClient):
    """Fails every DM to one user, as a Slack outage for one recipient would."""

    def __init__(self, slack: Emulator, broken_user: str) -> None:
        super().__init__(slack.client())
        self.broken_user = broken_user

    def post_message(self, channel: str, message: RenderedMessage) -> str:
        if channel == self.broken_user:
            raise SlackDeliveryError("internal_error")
        return super().post_message(channel, message)


def test_a_notification_that_always_fails_ends_dead_while_the_rest_flow(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    people = [lender_for(db, slack, f"p{n}") for n in range(4)]
    client = FlakyClient(slack, people[0][1])
    worker = make_worker(db, slack, clock, client=client, max_attempts=3)
    funded_project(db, rules, [p for p, _ in people], [2_000] * 4, clock())

    for _ in range(5):
        worker.drain()
        clock.advance(hours=1)  # past any backoff

    assert all(len(slack.dms(user)) == 1 for _, user in people[1:])
    [dead] = list_outbox(db.sessions, OutboxView.DEAD)
    assert (dead.attempts, dead.last_error) == (3, "internal_error")
    assert statuses(db) == {"sent": 3, "dead": 1}
    assert retry_notification(db.sessions, dead.id, clock=clock)
    assert [entry.id for entry in list_outbox(db.sessions, OutboxView.PENDING)] == [dead.id]


class RefusesBlocks(SlackClient):
    """Refuses every DM to one user as Slack refuses blocks it does not accept."""

    def __init__(self, slack: Emulator, refused_user: str) -> None:
        super().__init__(slack.client())
        self.refused_user = refused_user

    def post_message(self, channel: str, message: RenderedMessage) -> str:
        if channel == self.refused_user:
            raise Unsendable("invalid_blocks")
        return super().post_message(channel, message)


def test_a_message_slack_refuses_as_it_is_dies_at_once(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    # Sending it again would be refused again; six attempts would only hold back the others.
    people = [lender_for(db, slack, f"r{n}") for n in range(3)]
    worker = make_worker(db, slack, clock, client=RefusesBlocks(slack, people[0][1]))
    funded_project(db, rules, [p for p, _ in people], [2_000] * 3, clock())
    worker.drain()
    [dead] = list_outbox(db.sessions, OutboxView.DEAD)
    assert (dead.attempts, dead.last_error) == (1, "invalid_blocks")
    assert statuses(db) == {"sent": 2, "dead": 1}


def test_a_429_pauses_the_whole_workspace_and_drops_nothing(
    sqlite_db: Database, rules: LendingRules, clock: FakeClock
) -> None:
    # The emulator allows one post a second; the worker is told ten times that, so it hits 429s.
    limits = RateLimitConfig(post_message_workspace_per_minute=60)
    with Emulator(EmulatorConfig(rate_limits=limits)) as slack:
        people = [lender_for(sqlite_db, slack, f"q{n}") for n in range(4)]
        funded_project(sqlite_db, rules, [p for p, _ in people], [2_000] * 4, clock())
        optimistic = RateLimits(per_minute=600)
        stats = make_worker(sqlite_db, slack, clock, limits=optimistic).drain()

        posts = slack.calls("chat.postMessage")
    assert stats.rate_limited > 0 and stats.failed == 0
    assert statuses(sqlite_db) == {"sent": 4}
    for refused in (call for call in posts if call.status == 429):
        later = [call.at for call in posts if call.at > refused.at]
        assert min(later) - refused.at >= 0.95  # Retry-After: 1, for every sender
    with sqlite_db.sessions() as session:
        assert session.execute(select(func.max(Notification.attempts))).scalar_one() == 0


class RateLimitedOnce(SlackClient):
    """Answers the first post with a 429 carrying ``retry_after``, then posts as Slack does."""

    def __init__(self, slack: Emulator, retry_after: float) -> None:
        super().__init__(slack.client())
        self.retry_after = retry_after
        self.refused = False

    def post_message(self, channel: str, message: RenderedMessage) -> str:
        if not self.refused:
            self.refused = True
            raise RateLimited(self.retry_after)
        return super().post_message(channel, message)


def shared_limiter_on(db: Database, clock: FakeClock) -> WorkspaceRateLimiter:
    """The workers' shared budget, with time read from and slept on the test's clock."""
    return WorkspaceRateLimiter(
        FAST,
        budget=SharedBudget(db.sessions, POST_MESSAGE_BUDGET),
        clock=lambda: (clock() - WEDNESDAY_10AM).total_seconds(),
        sleep=lambda seconds: clock.advance(seconds=seconds),
    )


def rate_limited_worker(
    db: Database, slack: Emulator, clock: FakeClock, retry_after: float
) -> DeliveryWorker:
    client = RateLimitedOnce(slack, retry_after)
    return make_worker(db, slack, clock, client=client, limiter=shared_limiter_on(db, clock))


def the_row(db: Database) -> Notification:
    with db.sessions() as session:
        return session.execute(select(Notification)).scalar_one()


def test_a_429_within_the_lease_is_waited_out_and_the_message_sent_in_place(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    lender, user = lender_for(db, slack, "mia")
    funded_project(db, rules, [lender], [2_000], clock())

    stats = rate_limited_worker(db, slack, clock, retry_after=30).drain()

    assert (stats.rate_limited, stats.deferred, stats.messages_sent) == (1, 0, 1)
    assert clock() == WEDNESDAY_10AM + timedelta(seconds=30)
    assert len(slack.dms(user)) == 1
    assert (the_row(db).status, the_row(db).attempts) == (NotificationStatus.SENT, 0)


def test_a_429_that_outlasts_the_lease_hands_the_message_back_until_the_pause_ends(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    lender, user = lender_for(db, slack, "ned")
    funded_project(db, rules, [lender], [2_000], clock())
    worker = rate_limited_worker(db, slack, clock, retry_after=600)  # the lease is 5 minutes

    stats = worker.drain()

    assert (stats.rate_limited, stats.deferred, stats.failed, stats.messages_sent) == (1, 1, 0, 0)
    row = the_row(db)
    assert (row.status, row.attempts, row.lease_until) == (NotificationStatus.PENDING, 0, None)
    assert row.due_at == WEDNESDAY_10AM + timedelta(seconds=600)
    clock.advance(minutes=6)  # the lease would have run out: another worker finds nothing
    assert make_worker(db, slack, clock).drain().claimed == 0
    clock.advance(minutes=4)
    assert worker.drain().messages_sent == 1
    assert len(slack.dms(user)) == 1
    assert statuses(db) == {"sent": 1}


def test_workers_built_for_the_cli_share_a_send_budget_on_their_database(db: Database) -> None:
    worker = build_worker(Settings(slack_bot_token="xoxb-test"), db=db)
    before = time.time()

    worker.limiter.pause(30)

    with db.sessions() as session:
        budget = session.execute(select(SendBudget)).scalar_one()
    assert budget.name == POST_MESSAGE_BUDGET
    assert budget.paused_until >= before + 30


def bulk_lenders(db: Database, slack: Emulator, count: int, clock: FakeClock) -> list[str]:
    users = [slack.add_user(f"bulk{n}").id for n in range(count)]
    with db.sessions() as session, session.begin():
        workspace = make_lender(db, user_id="U0SEED")
        workspace_id = session.get(Lender, workspace).workspace_id  # type: ignore[union-attr]
        session.execute(
            insert(Lender),
            [
                # Awake around the clock: the worker in a subprocess runs on real time.
                {
                    "workspace_id": workspace_id,
                    "slack_user_id": user,
                    "created_at": clock(),
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
                outbox.key("bulk", Lender.id).label("dedupe_key"),
                Lender.workspace_id.label("workspace_id"),
                Lender.id.label("lender_id"),
                outbox.no_text().label("channel_id"),
                outbox.no_id().label("project_id"),
                outbox.no_id().label("circle_id"),
            ).where(Lender.slack_user_id.like("U%"), Lender.slack_user_id != "U0SEED"),
            payload={},
            now=clock(),
        )
    return users


@pytest.mark.postgres
def test_three_workers_drain_5000_notifications_each_sent_once(
    postgres_db: Database, slack: Emulator, clock: FakeClock
) -> None:
    users = bulk_lenders(postgres_db, slack, 5_000, clock)
    workers = [make_worker(postgres_db, slack, clock, batch_size=100) for _ in range(3)]
    threads = [threading.Thread(target=worker.drain) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    posted = Counter(
        call.args["channel"] for call in slack.calls("chat.postMessage") if call.status == 200
    )
    assert set(posted) == set(users) and set(posted.values()) == {1}
    assert statuses(postgres_db) == {"sent": 5_000}
    assert all(worker.counters.snapshot().messages_sent > 500 for worker in workers)


def test_a_lease_left_by_a_crashed_worker_is_taken_back_after_it_expires(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    lender, user = lender_for(db, slack, "kim")
    funded_project(db, rules, [lender], [2_000], clock())
    crashed = make_worker(db, slack, clock)
    assert crashed.prepare()[0] == 1  # claimed, then the worker "dies" before sending

    survivor = make_worker(db, slack, clock)
    assert survivor.drain().messages_sent == 0
    clock.advance(minutes=6)
    assert survivor.drain().messages_sent == 1
    assert len(slack.dms(user)) == 1


def test_dms_are_posted_to_the_user_id_without_opening_a_conversation(
    db: Database, rules: LendingRules, slack: Emulator, clock: FakeClock
) -> None:
    lender, user = lender_for(db, slack, "lou")
    worker = make_worker(db, slack, clock)
    for _ in range(2):
        funded_project(db, rules, [lender], [2_000], clock())
        worker.drain()
    assert len(slack.dms(user)) == 2  # both landed in the app's DM with lou
    assert slack.calls("conversations.open") == []
    assert [call.args["channel"] for call in slack.calls("chat.postMessage")] == [user, user]


SENDERS = 4
WORKER_PROCESS = f"""
import sys
from datetime import timedelta
from slack_sdk import WebClient
from bot.runtime.delivery import DeliverySettings, DeliveryWorker
from bot.runtime.send_limiter import RateLimits, WorkspaceRateLimiter
from bot.runtime.slack_client import SlackClient
from storage.db.engine import make_engine, make_sessionmaker

url, schema, base_url, token, per_minute = sys.argv[1:6]
engine = make_engine(url, connect_args={{"options": f"-csearch_path={{schema}}"}})
limits = RateLimits(float(per_minute), per_channel_per_second=100)
DeliveryWorker(
    make_sessionmaker(engine),
    SlackClient(WebClient(token=token, base_url=base_url)),
    WorkspaceRateLimiter(limits),
    settings=DeliverySettings(senders={SENDERS}, batch_size=50, lease=timedelta(seconds=2)),
).drain()
"""


def start_worker_process(db: Database, slack: Emulator, per_minute: int) -> subprocess.Popen[bytes]:
    with db.engine.connect() as connection:
        schema = connection.execute(text("SHOW search_path")).scalar_one()
    arguments = [POSTGRES_URL, schema, slack.base_url, slack.bot_token, str(per_minute)]
    root = Path(__file__).resolve().parents[3]
    return subprocess.Popen(
        [sys.executable, "-c", WORKER_PROCESS, *arguments], cwd=root, env={"PYTHONPATH": str(root)}
    )


@pytest.mark.postgres
def test_a_worker_killed_mid_fan_out_loses_nothing_and_duplicates_only_what_was_in_flight(
    postgres_db: Database, slack: Emulator, clock: FakeClock
) -> None:
    users = bulk_lenders(postgres_db, slack, 600, clock)

    def delivered() -> list[Call]:
        return [c for c in slack.calls("chat.postMessage") if c.status == 200]

    first = start_worker_process(postgres_db, slack, per_minute=12_000)
    deadline = time.monotonic() + 30
    while len(delivered()) < 150 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    in_flight = statuses(postgres_db)["sending"]
    assert 0 < len(delivered()) < len(users)

    time.sleep(2.5)  # the dead worker's leases run out
    second = start_worker_process(postgres_db, slack, per_minute=60_000)
    assert second.wait(timeout=60) == 0

    per_channel = Counter(call.args["channel"] for call in delivered())
    duplicates = sum(count - 1 for count in per_channel.values())
    assert set(per_channel) == set(users)
    assert statuses(postgres_db) == {"sent": len(users)}
    # Each sent message is marked at once: only what the sender threads had on the way.
    assert duplicates <= SENDERS
    print(f"killed with {in_flight} rows leased; {duplicates} sent twice")


HOSTILE = [
    "N" * 5000,
    "<!channel> <!here>",
    "<@U123> <https://evil.example|click>",
    "👩‍👩‍👧‍👦 🇵🇪 👍🏿" * 400,
    "قرض صغير لمتجر \u202eevil\u202c",
    '"}]}, {"type": "section"',
]
TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "notifications"


def hostile_context(text: str) -> dict[str, object]:
    project = ProjectFacts(7, "K7", text, text, text, text, 50_000, 20_000, text)
    stake = Stake(project, 2_500, 1_000, received=250, similar=(project,) * 3, impact_text=text)
    many = (stake,) * 30
    news = LenderNews(
        available=12_345,
        repayments=many,
        funded=many,
        expired=many,
        defaulted=many,
        delinquent=many,
        impacts=many,
        autolends=many,
        invites=(Invite(7, text, "U0TEXT"),) * 5,
        idle_reminder=True,
    )
    week = CircleWeek(date(2026, 1, 5), 10_000, 4, 2, 550)
    post = CirclePost(
        "circle_pledge", text, 100_000, 45_000, project, 5_000, 500, 2_500, "U0LEAD", week
    )
    alert = Alert(text, tuple(BrokenRule(text, text, 1_000) for _ in range(40)))
    return {
        "news": news,
        "post": post,
        "alert": alert,
        "currency": "EUR",
        "period": "weekly digest",
    }


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("[a-z]*.json.j2")))
def test_every_template_fits_block_kit_and_stays_inert(name: str, text: str) -> None:
    message = render_message(f"notifications/{name}", **hostile_context(text))
    assert validate_message_blocks(message.blocks) == []
    assert_valid_blocks(message.blocks)
    payload = json.dumps(message.to_dict(), ensure_ascii=False)
    assert len(message.blocks) <= 50 and len(message.text) <= 3000
    for token in ("<!channel>", "<!here>", "<@U123>", "<https://evil"):
        assert token not in payload


def test_templates_say_the_right_amounts() -> None:
    context = hostile_context("Rosa")
    texts = {
        name: json.dumps(render_message(f"notifications/{name}.json.j2", **context).to_dict())
        for name in ("repayment", "expired", "defaulted", "circle_pledge", "circle_summary")
    }
    assert "\\u20ac75.00* came back to you from 30 loans" in texts["repayment"]
    assert "\\u20ac10.00 of the \\u20ac25.00 you lent repaid (40%)" in texts["repayment"]
    assert "\\u20ac750.00* is back in your credit" in texts["expired"]
    assert "Lost: \\u20ac15.00 of the \\u20ac25.00 you lent" in texts["defaulted"]
    assert "lent *\\u20ac25.00* for the circle" in texts["circle_pledge"]
    assert "\\u20ac450.00 of the \\u20ac1,000.00 goal (45%)" in texts["circle_summary"]
    assert "\\u20ac100.00 in 4 pledges" in texts["circle_summary"]


def test_funded_news_promises_disbursement_only_while_the_project_awaits_it() -> None:
    def told(status: ProjectStatus) -> str:
        project = ProjectFacts(7, "K7", "Rosa", "Peru", "seeds", "Farming", 50_000, 50_000, None)
        stake = Stake(dataclasses.replace(project, status=status), 2_500, 0)
        news = LenderNews(available=0, funded=(stake,))
        context = {"news": news, "currency": "EUR", "period": "as it happens"}
        rendered = render_message("notifications/funded.json.j2", **context)
        return json.dumps(rendered.to_dict())

    assert "will now be disbursed" in told(ProjectStatus.FUNDED)
    # Delivered late, when the partner has started repaying: no stale promise.
    assert "disbursed" not in told(ProjectStatus.REPAYING)
