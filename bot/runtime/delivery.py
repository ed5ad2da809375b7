"""The delivery worker: claims due outbox rows, folds them per lender, renders, sends, settles.

One producer (the thread calling ``run``) claims a batch under a lease, decides for each row
whether it is skipped (workspace uninstalled, lender opted out), deferred (outside the lender's
working hours, digest period not over) or sent, loads the facts of the rows to send with a few
set-based queries and renders one message per lender (or per circle post). Sender threads take
the messages from a bounded queue, so the next batch is claimed while this one is sent. Every
Slack call waits for the one workspace-wide limiter, whose budget every worker process shares
through the database; a 429 pauses all senders for ``Retry-After`` and the same message is tried
again (not a failure). A message whose slot would come after its rows' lease ends (a long pause)
is handed back instead, due when the slot is: sent later, another worker could have claimed the
rows and sent them too. Other failures back off exponentially with jitter until
``max_attempts``, then the rows are dead.

No database transaction is open while a message is on its way: claims and settlements are
short transactions of their own (``storage.notifications.delivery_queue``).
"""

from __future__ import annotations

import queue
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.installations import Installations
from bot.runtime.send_limiter import NoSlotInTime, RateLimits, WorkspaceRateLimiter
from bot.runtime.settings import Settings
from bot.runtime.slack_client import (
    RateLimited,
    RecipientGone,
    SlackClient,
    SlackDeliveryError,
    Unsendable,
    WorkspaceGone,
)
from bot.runtime.workspace_senders import Installed, OneToken, Sender, Senders
from storage.db.clock import utcnow
from storage.db.database import Database, open_database
from storage.notifications import delivery_queue
from storage.notifications.delivery_queue import Claimed, OutboxEntry, OutboxView
from storage.notifications.facts import circle_posts, lender_news, operator_alerts
from storage.notifications.kinds import Audience, Kind
from storage.notifications.send_budget import SharedBudget
from storage.notifications.timing import (
    DIGEST_PERIODS,
    Recipient,
    audience_of,
    inactive_workspaces,
    lender_template,
    load_recipients,
    plan_delivery,
)
from templates.render import RenderedMessage, TemplateRenderError, render_message

Clock = Callable[[], datetime]

# The one budget every worker process books chat.postMessage slots from.
POST_MESSAGE_BUDGET = "slack:chat.postMessage"
# A message is sent only in a slot that leaves this share of its lease for the call itself
# (30 seconds of the default 5 minutes: slack_sdk's own timeout).
CALL_SHARE_OF_LEASE = 0.1
# Messages allowed back to back: Slack's chat.postMessage allows "short bursts".
POST_BURST = 10


@dataclass(frozen=True)
class DeliverySettings:
    batch_size: int = 200
    lease: timedelta = timedelta(minutes=5)
    max_attempts: int = 6
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 6 * 3600.0
    senders: int = 8
    idle_seconds: float = 2.0
    limits: RateLimits = field(default_factory=lambda: post_limits(RateLimits.per_minute))

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliverySettings:
        """``MICROLEND_SLACK_PER_MINUTE`` and ``MICROLEND_DELIVERY_ATTEMPTS``, validated."""
        limits = post_limits(settings.slack_per_minute)
        return cls(max_attempts=settings.delivery_attempts, limits=limits)


def post_limits(per_minute: float) -> RateLimits:
    """The delivery workers' chat.postMessage limits: ``per_minute`` for the workspace, with
    the short burst Slack allows, so senders that fall a little behind catch up."""
    return RateLimits(per_minute=float(per_minute), burst=POST_BURST)


@dataclass(frozen=True)
class Outgoing:
    """One Slack message to send and the outbox rows it settles."""

    row_ids: tuple[int, ...]
    attempts: int
    template: str
    context: dict[str, Any]
    # When the claim on the rows ends: after it, another worker may take and send them.
    lease_until: datetime
    # A Slack user id for a DM, else a channel id.
    user_id: str | None = None
    channel_id: str | None = None
    # Whose token and limits it goes with.
    workspace_id: int | None = None


@dataclass(frozen=True)
class WorkerStats:
    claimed: int = 0
    messages_sent: int = 0
    rows_sent: int = 0
    deferred: int = 0
    skipped: int = 0
    failed: int = 0
    dead: int = 0
    rate_limited: int = 0


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, int] = defaultdict(int)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self._values[name] += amount

    def snapshot(self) -> WorkerStats:
        with self._lock:
            return WorkerStats(**self._values)


class DeliveryWorker:
    def __init__(
        self,
        factory: sessionmaker[Session],
        slack: SlackClient,
        limiter: WorkspaceRateLimiter,
        *,
        settings: DeliverySettings | None = None,
        currency: str = "EUR",
        clock: Clock = utcnow,
        jitter: Callable[[], float] = random.random,
        senders: Senders | None = None,
    ) -> None:
        """``slack`` and ``limiter`` send everything unless ``senders`` (OAuth mode) gives
        each workspace its own (``bot.runtime.workspace_senders``)."""
        self.factory = factory
        self.limiter = limiter
        self.senders = senders or OneToken(Sender(slack, limiter))
        self.settings = settings or DeliverySettings()
        self.currency = currency
        self.clock = clock
        self.jitter = jitter
        self.counters = _Counters()

    # -- the loop ------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, *, until_idle: bool = False) -> WorkerStats:
        """Deliver until ``stop`` is set, or (``until_idle``) until nothing is due."""
        stop = stop or threading.Event()
        self.counters = _Counters()
        work: queue.Queue[Outgoing | None] = queue.Queue(maxsize=self.settings.batch_size * 2)
        senders = [
            threading.Thread(target=self._send_loop, args=(work,), name=f"sender-{n}", daemon=True)
            for n in range(self.settings.senders)
        ]
        for sender in senders:
            sender.start()
        try:
            self._produce(work, stop, until_idle)
        finally:
            for _ in senders:
                work.put(None)
            for sender in senders:
                sender.join()
        return self.counters.snapshot()

    def _produce(
        self, work: queue.Queue[Outgoing | None], stop: threading.Event, idle: bool
    ) -> None:
        while not stop.is_set():
            claimed, messages = self.prepare()
            for message in messages:
                work.put(message)
            if claimed:
                continue
            if idle:
                # Wait for the messages in flight: a failure may leave a row due again.
                work.join()
                if not self._anything_due():
                    return
            else:
                stop.wait(self.settings.idle_seconds)

    def _anything_due(self) -> bool:
        """Whether any row is due now (after the senders settled theirs)."""
        now = self.clock()
        with self.factory() as session:
            return delivery_queue.due_count(session, now=now) > 0

    def drain(self) -> WorkerStats:
        """Send everything due now, then return (tests, ``microlend jobs``-style one-offs)."""
        return self.run(until_idle=True)

    def _send_loop(self, work: queue.Queue[Outgoing | None]) -> None:
        while True:
            message = work.get()
            try:
                if message is None:
                    return
                self.deliver(message)
            finally:
                work.task_done()

    # -- claiming and planning -----------------------------------------------------------------

    def prepare(self) -> tuple[int, list[Outgoing]]:
        """Claim a batch; settle what is skipped or deferred; return the messages to send."""
        now = self.clock()
        rows = delivery_queue.claim_due(
            self.factory, now=now, lease=self.settings.lease, limit=self.settings.batch_size
        )
        if not rows:
            return 0, []
        # One claim, one lease: every row of it is held until the same moment.
        lease_until = rows[0].lease_until
        with self.factory() as session:
            recipients = load_recipients(session, {r.lender_id for r in rows if r.lender_id})
            inactive = inactive_workspaces(
                session, {r.workspace_id for r in rows if r.workspace_id}
            )
            plan = plan_delivery(rows, recipients, inactive, now)
            messages = self._compose(session, plan.send, recipients, now)
        for until, ids in plan.defer.items():
            delivery_queue.defer(self.factory, ids, lease_until=lease_until, until=until)
        for reason, ids in plan.skip.items():
            delivery_queue.skip(self.factory, ids, lease_until=lease_until, reason=reason)
        self.counters.add(
            claimed=len(rows),
            deferred=sum(map(len, plan.defer.values())),
            skipped=sum(map(len, plan.skip.values())),
        )
        return len(rows), messages

    def _compose(
        self,
        session: Session,
        rows: Sequence[Claimed],
        recipients: Mapping[int, Recipient],
        now: datetime,
    ) -> list[Outgoing]:
        by_audience: dict[Audience, list[Claimed]] = defaultdict(list)
        for row in rows:
            by_audience[audience_of(row)].append(row)
        messages = self._to_lenders(session, by_audience[Audience.LENDER], recipients, now)
        messages += self._to_channels(session, by_audience[Audience.CHANNEL])
        messages += [
            self._single(row, {"alert": alert}, user_id=row.channel_id)
            for row, alert in operator_alerts(by_audience[Audience.OPERATOR])
        ]
        return messages

    def _to_lenders(
        self,
        session: Session,
        rows: Sequence[Claimed],
        recipients: Mapping[int, Recipient],
        now: datetime,
    ) -> list[Outgoing]:
        """One message per lender, whatever their news: the rows fold into it."""
        news = lender_news(session, rows, now=now)
        by_lender: dict[int, list[Claimed]] = defaultdict(list)
        for row in rows:
            by_lender[row.lender_id or 0].append(row)
        return [
            Outgoing(
                row_ids=tuple(row.id for row in group),
                attempts=max(row.attempts for row in group),
                template=lender_template(group, recipients[lender].notify_mode),
                context={
                    "news": news[lender],
                    "currency": self.currency,
                    "period": DIGEST_PERIODS.get(recipients[lender].notify_mode),
                },
                lease_until=min(row.lease_until for row in group),
                user_id=recipients[lender].slack_user_id,
                workspace_id=group[0].workspace_id,
            )
            for lender, group in by_lender.items()
        ]

    def _to_channels(self, session: Session, rows: Sequence[Claimed]) -> list[Outgoing]:
        posts = circle_posts(session, rows)
        gone = [row for row in rows if row.id not in posts]
        if gone:
            delivery_queue.skip(
                self.factory,
                [row.id for row in gone],
                lease_until=gone[0].lease_until,
                reason="the circle no longer exists",
            )
        return [
            self._single(row, {"post": posts[row.id]}, channel_id=row.channel_id)
            for row in rows
            if row.id in posts
        ]

    def _single(
        self,
        row: Claimed,
        context: dict[str, Any],
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
    ) -> Outgoing:
        return Outgoing(
            row_ids=(row.id,),
            attempts=row.attempts,
            template=Kind(row.kind).template,
            context={**context, "currency": self.currency},
            lease_until=row.lease_until,
            user_id=user_id,
            channel_id=channel_id,
            workspace_id=row.workspace_id,
        )

    # -- sending -------------------------------------------------------------------------------

    def deliver(self, message: Outgoing) -> None:
        """Render and send one message, then settle its rows whatever happened.

        Counts are of rows settled: a row whose lease another worker took over is theirs."""
        ids, lease_until = message.row_ids, message.lease_until
        sender = self.senders.for_workspace(message.workspace_id)
        if sender is None:
            reason = "the app is not installed in this workspace"
            skipped = delivery_queue.skip(self.factory, ids, lease_until=lease_until, reason=reason)
            self.counters.add(skipped=skipped)
            return
        try:
            rendered = render_message(message.template, **message.context)
            self._post(message, rendered, sender)
        except NoSlotInTime as late:
            # Handed back, not an attempt: nothing went wrong with the message.
            until = self.clock() + timedelta(seconds=late.wait)
            deferred = delivery_queue.defer(self.factory, ids, lease_until=lease_until, until=until)
            self.counters.add(deferred=deferred)
        except WorkspaceGone as gone:
            reason = f"the app was uninstalled: {gone.error}"
            skipped = delivery_queue.skip(self.factory, ids, lease_until=lease_until, reason=reason)
            self.counters.add(skipped=skipped)
        except (RecipientGone, Unsendable, TemplateRenderError) as hopeless:
            # Sent again it would fail again, and a channel's later posts wait behind it.
            error = hopeless.error if isinstance(hopeless, SlackDeliveryError) else str(hopeless)
            dead = delivery_queue.kill(self.factory, ids, lease_until=lease_until, error=error)
            self.counters.add(dead=dead)
        except SlackDeliveryError as error:
            self._failed(message, str(error))
        else:
            # Marked the moment Slack has it: a worker killed now sends again at most the
            # messages its sender threads had on the way.
            sent = delivery_queue.mark_sent(
                self.factory, ids, lease_until=lease_until, now=self.clock()
            )
            self.counters.add(messages_sent=1, rows_sent=sent)

    def _post(self, message: Outgoing, rendered: RenderedMessage, sender: Sender) -> None:
        """Post in a slot within the lease; on 429 pause the workspace and try the same message
        again. ``NoSlotInTime`` if the lease would end first."""
        # A user id as the channel posts into the app's DM with them: one call, no
        # conversations.open (Tier 3, ~50/min) first.
        channel = message.channel_id or message.user_id or ""
        while True:
            sender.limiter.acquire_post(channel, within=self._time_to_send(message))
            try:
                sender.slack.post_message(channel, rendered)
                return
            except RateLimited as limited:
                sender.limiter.pause(limited.retry_after)
                self.counters.add(rate_limited=1)

    def _time_to_send(self, message: Outgoing) -> float:
        """Seconds from now within which a slot leaves the call time before the lease ends."""
        call_time = self.settings.lease * CALL_SHARE_OF_LEASE
        return (message.lease_until - call_time - self.clock()).total_seconds()

    def _failed(self, message: Outgoing, error: str) -> None:
        attempt = message.attempts + 1
        delay = min(
            self.settings.backoff_cap_seconds,
            self.settings.backoff_base_seconds * 2 ** (attempt - 1),
        )
        # Jitter spreads the retries of a failed round so they do not all return at once.
        retry_at = self.clock() + timedelta(seconds=delay * (0.5 + self.jitter() / 2))
        settled = delivery_queue.fail(
            self.factory,
            message.row_ids,
            lease_until=message.lease_until,
            error=error,
            retry_at=retry_at,
            max_attempts=self.settings.max_attempts,
        )
        if attempt >= self.settings.max_attempts:
            self.counters.add(dead=settled)
        else:
            self.counters.add(failed=settled)


# -- for the CLI -------------------------------------------------------------------------------


def build_worker(
    settings: Settings,
    delivery: DeliverySettings | None = None,
    *,
    db: Database | None = None,
) -> DeliveryWorker:
    """A worker for the configured database and Slack (``SLACK_BOT_TOKEN``, ``SLACK_API_URL``)."""
    delivery = delivery or DeliverySettings.from_settings(settings)
    db = db or open_database(settings.database_url)
    factory = db.sessions
    web = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    budget = SharedBudget(factory, POST_MESSAGE_BUDGET)
    senders = None
    if settings.oauth is not None:
        senders = Installed(
            factory,
            Installations(db.engine, settings.oauth),
            settings.slack_api_url,
            delivery.limits,
            budget_name=POST_MESSAGE_BUDGET,
        )
    return DeliveryWorker(
        factory,
        SlackClient(web),
        WorkspaceRateLimiter(delivery.limits, budget=budget),
        settings=delivery,
        currency=settings.currency,
        senders=senders,
    )


def run_worker(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    delivery: DeliverySettings | None = None,
) -> WorkerStats:
    """``microlend worker``: deliver until ``stop`` is set (Ctrl-C in the CLI sets it)."""
    return build_worker(settings, delivery).run(stop)


def list_outbox(
    factory: sessionmaker[Session], view: OutboxView = OutboxView.PENDING, *, limit: int = 50
) -> list[OutboxEntry]:
    """``microlend outbox [pending|failed|dead]``: the oldest rows of that kind first."""
    with factory() as session:
        return delivery_queue.list_entries(session, view, limit=limit)


def outbox_counts(factory: sessionmaker[Session]) -> dict[str, int]:
    """Rows per status, for the header of ``microlend outbox``."""
    with factory() as session:
        return delivery_queue.status_counts(session)


def retry_notification(
    factory: sessionmaker[Session], notification_id: int, *, clock: Clock = utcnow
) -> bool:
    """``microlend outbox retry ID``: due now with fresh attempts; False if sent or unknown."""
    return delivery_queue.revive(factory, notification_id, now=clock())
