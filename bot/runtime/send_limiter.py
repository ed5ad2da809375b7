"""One rate limiter per workspace for everything the app sends on its own initiative.

Slack limits ``chat.postMessage`` to about one message per second per channel and to a
workspace-wide number per minute, and a ``429`` carries a ``Retry-After`` that applies to the whole
workspace. So every sender thread asks this one object for a slot: it spaces calls at the
workspace rate, keeps each channel (a DM: the user id it is posted to) one interval apart, and a
``pause`` after a 429 holds every sender back at once. Reservations are made under a lock and
slept on outside it, so waiting threads never block each other's bookkeeping.

Alone (tests, the console), the limiter spaces calls in this process (GCRA: a slot every
``60 / per_minute`` seconds, with a small burst). Delivery workers run in several processes, so
they share a budget in the database (``storage.notifications.send_budget``): each books
workspace slots a few at a time, so that together they keep to one rate, and a pause is written
there, so that every process holds back. A pause recorded elsewhere is known here from the next
booking on; a caller whose slot falls inside a known pause waits again. Channel spacing stays in
the process: a lender's due messages are folded into one per claim, so a channel seldom has
messages in flight in two processes at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from storage.notifications.send_budget import SharedBudget

# Channel entries are dropped once their interval is over, so the map stays small however
# many lenders a round reaches.
_PRUNE_AT = 10_000
# How much of the workspace's sending a shared budget books at once: little, so that a worker
# that stops wastes little and a pause recorded by another process is seen within it; not one
# slot at a time, as a booking is a database transaction (at 20,000 a minute, 8 slots).
SHARED_BLOCK_SECONDS = 0.025


@dataclass(frozen=True)
class RateLimits:
    per_minute: float = 600.0
    per_channel_per_second: float = 1.0
    # Calls allowed back to back before spacing applies. It is also how far behind its
    # schedule a limiter may catch up: without it, every late sender loses its slot for good.
    burst: int = 1

    @property
    def interval(self) -> float:
        return 60.0 / self.per_minute

    @property
    def tolerance(self) -> float:
        """Seconds a call may come ahead of the even spacing (a burst of ``burst`` calls)."""
        return self.interval * max(self.burst - 1, 0)

    def scaled(self, factor: float) -> RateLimits:
        return RateLimits(
            per_minute=self.per_minute * factor,
            per_channel_per_second=self.per_channel_per_second * factor,
            burst=self.burst,
        )


def shared_block(interval: float) -> int:
    """Slots a shared budget books at once, for calls ``interval`` seconds apart."""
    return max(1, round(SHARED_BLOCK_SECONDS / interval))


class NoSlotInTime(Exception):
    """The caller's slot would come after its deadline; nothing was booked for it."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"no chat.postMessage slot for {wait:.1f} seconds")
        # Seconds from now until the slot (the end of a pause, usually).
        self.wait = wait


class _Gcra:
    """Generic cell rate algorithm in this process: the time the next call is theoretically due."""

    def __init__(self, limits: RateLimits) -> None:
        self.interval = limits.interval
        self.tolerance = limits.tolerance
        self.due = 0.0
        self.paused_until = 0.0

    def earliest(self, ready: float, now: float) -> float:
        return max(ready, self.due - self.tolerance, self.paused_until)

    def book(self, slot: float) -> None:
        self.due = max(self.due, slot) + self.interval

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)


class _SharedSlots:
    """Workspace slots booked in a shared budget a block at a time, handed out here."""

    def __init__(self, budget: SharedBudget, limits: RateLimits) -> None:
        self.budget = budget
        self.interval = limits.interval
        self.tolerance = limits.tolerance
        self.free: list[float] = []
        self.paused_until = 0.0

    def earliest(self, ready: float, now: float) -> float:
        while True:
            # Slots further gone by than the tolerance, or inside a pause, are lost; a slot a
            # little late is still taken (the budget catches up); slots earlier than ``ready``
            # stay for callers on other channels.
            floor = max(now - self.tolerance, self.paused_until)
            self.free = [slot for slot in self.free if slot >= floor]
            slot = next((slot for slot in self.free if slot >= ready - self.tolerance), None)
            if slot is not None:
                return slot
            self._book_block(now)

    def _book_block(self, now: float) -> None:
        count = shared_block(self.interval)
        booking = self.budget.reserve(count, self.interval, now - self.tolerance)
        self.free.extend(booking.slots)
        self.paused_until = max(self.paused_until, booking.paused_until)

    def book(self, slot: float) -> None:
        self.free.remove(slot)

    def pause(self, until: float) -> None:
        self.paused_until = max(self.paused_until, until)
        self.budget.pause(until)


class WorkspaceRateLimiter:
    """Blocks each caller until its call fits the workspace's limits; thread-safe.

    With a shared ``budget`` the clock defaults to the wall clock: slots are compared across
    processes and hosts, which share no monotonic clock.
    """

    def __init__(
        self,
        limits: RateLimits,
        *,
        budget: SharedBudget | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits
        self._clock = clock or (time.time if budget else time.monotonic)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._workspace = _SharedSlots(budget, limits) if budget else _Gcra(limits)
        self._channel_interval = 1.0 / limits.per_channel_per_second
        self._channel_next: dict[str, float] = {}
        self.pauses = 0

    def acquire_post(self, channel: str, *, within: float = math.inf) -> None:
        """Wait for a ``chat.postMessage`` slot for ``channel`` (a channel or user id).

        Raises ``NoSlotInTime`` instead of waiting if the slot would come more than ``within``
        seconds from now (the caller's hold on the message ends by then).
        """
        deadline = self._clock() + within
        while True:
            with self._lock:
                now = self._clock()
                slot = self._book(channel, now, deadline)
            self._sleep(max(slot - now, 0.0))
            # A 429 may have paused the workspace while this caller slept on its slot.
            with self._lock:
                if slot >= self._workspace.paused_until:
                    return

    def _book(self, channel: str, now: float, deadline: float) -> float:
        """Book a workspace slot for ``channel``; the time to send at (never before the
        channel is ready, though the slot itself may lie up to the tolerance earlier)."""
        ready = max(now, self._channel_next.get(channel, 0.0))
        slot = self._workspace.earliest(ready, now)
        send_at = max(slot, ready)
        if send_at > deadline:
            raise NoSlotInTime(send_at - now)
        self._workspace.book(slot)
        self._remember(channel, send_at + self._channel_interval, now)
        return send_at

    def _remember(self, channel: str, next_slot: float, now: float) -> None:
        self._channel_next[channel] = next_slot
        if len(self._channel_next) > _PRUNE_AT:
            self._channel_next = {c: t for c, t in self._channel_next.items() if t > now}

    def pause(self, seconds: float) -> None:
        """Hold every sender for ``seconds`` (Slack's ``Retry-After``), in every process."""
        with self._lock:
            self._workspace.pause(self._clock() + seconds)
            self.pauses += 1
