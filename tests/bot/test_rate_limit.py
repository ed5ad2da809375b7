"""The workspace limiter on a fake clock: spacing, per-channel gaps, pauses for everyone."""

from __future__ import annotations

import threading

from bot.rate_limit import RateLimits, WorkspaceRateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def limiter(limits: RateLimits, time: FakeTime) -> WorkspaceRateLimiter:
    return WorkspaceRateLimiter(limits, clock=time.clock, sleep=time.sleep)


def test_posts_are_spaced_at_the_workspace_rate() -> None:
    time = FakeTime()
    slots = limiter(RateLimits(per_minute=120), time)
    for number in range(10):
        slots.acquire_post(f"D{number}")
    assert time.now == 4.5  # ten calls at two a second: the first at once


def test_one_channel_gets_at_most_one_post_a_second() -> None:
    time = FakeTime()
    slots = limiter(RateLimits(per_minute=6_000, per_channel_per_second=1), time)
    for _ in range(3):
        slots.acquire_post("C1")
    assert time.now == 2.0


def test_a_pause_holds_every_caller_for_retry_after() -> None:
    time = FakeTime()
    slots = limiter(RateLimits(per_minute=6_000), time)
    slots.acquire_post("D1")
    slots.pause(30)
    slots.acquire_post("D2")
    slots.acquire_post("U3")
    assert time.now >= 30
    assert slots.pauses == 1
