"""One rate limiter per workspace for everything the app sends on its own initiative.

Slack limits ``chat.postMessage`` to about one message per second per channel and to a
workspace-wide number per minute, and a ``429`` carries a ``Retry-After`` that applies to the whole
workspace. So every sender thread asks this one object for a slot: it spaces calls evenly at the
workspace rate (GCRA: a slot every ``60 / per_minute`` seconds, with a small burst), keeps each
channel (a DM: the user id it is posted to) one interval apart, and a ``pause`` after a 429
holds every sender back at once. Reservations are made under a lock and slept on outside it, so
waiting threads never block each other's bookkeeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Channel entries are dropped once their interval is over, so the map stays small however
# many lenders a round reaches.
_PRUNE_AT = 10_000


@dataclass(frozen=True)
class RateLimits:
    per_minute: float = 600.0
    per_channel_per_second: float = 1.0
    # Calls allowed back to back before spacing applies.
    burst: int = 1

    def scaled(self, factor: float) -> RateLimits:
        return RateLimits(
            per_minute=self.per_minute * factor,
            per_channel_per_second=self.per_channel_per_second * factor,
            burst=self.burst,
        )


class _Gcra:
    """Generic cell rate algorithm: the time the next call is theoretically due."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.interval = 60.0 / per_minute
        self.tolerance = self.interval * max(burst - 1, 0)
        self.due = 0.0

    def earliest(self, now: float) -> float:
        return max(now, self.due - self.tolerance)

    def book(self, at: float) -> None:
        self.due = max(self.due, at) + self.interval


class WorkspaceRateLimiter:
    """Blocks each caller until its call fits the workspace's limits; thread-safe."""

    def __init__(
        self,
        limits: RateLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._posts = _Gcra(limits.per_minute, limits.burst)
        self._channel_interval = 1.0 / limits.per_channel_per_second
        self._channel_next: dict[str, float] = {}
        self._paused_until = 0.0
        self.pauses = 0

    def acquire_post(self, channel: str) -> None:
        """Wait for a ``chat.postMessage`` slot for ``channel`` (a channel or user id)."""
        while True:
            with self._lock:
                now = self._clock()
                slot = max(self._posts.earliest(now), self._paused_until)
                slot = max(slot, self._channel_next.get(channel, 0.0))
                self._posts.book(slot)
                self._remember(channel, slot + self._channel_interval, now)
            self._sleep(max(slot - now, 0.0))
            # A 429 may have paused the workspace while this caller slept on its slot.
            with self._lock:
                if self._paused_until <= self._clock():
                    return

    def _remember(self, channel: str, next_slot: float, now: float) -> None:
        self._channel_next[channel] = next_slot
        if len(self._channel_next) > _PRUNE_AT:
            self._channel_next = {c: t for c, t in self._channel_next.items() if t > now}

    def pause(self, seconds: float) -> None:
        """Hold every sender for ``seconds`` (Slack's ``Retry-After``)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self.pauses += 1
