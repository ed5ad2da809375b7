"""Slack's Web API rate limits, switchable and scalable.

Slack applies limits "per API method per workspace per app" in tiers (Tier 1: 1+/min,
Tier 2: 20+/min, Tier 3: 50+/min, Tier 4: 100+/min, each tolerating some burst).
``chat.postMessage`` is special: about one message per second per channel with short
bursts allowed, plus a workspace-wide ceiling Slack does not publish ("several hundred
per minute"). Each limit is a token bucket: it refills at the documented rate and holds a
burst allowance, so a steady caller at the rate is never refused.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

TIER_PER_MINUTE: dict[int, float] = {1: 1, 2: 20, 3: 50, 4: 100}

# Tiers from each method's page in Slack's reference. Methods marked "Special" there
# (auth.test) get Tier 4; chat.postMessage has its own buckets below.
METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "conversations.info": 3,
    "conversations.members": 4,
    "conversations.open": 3,
    "users.info": 4,
    "users.list": 2,
    "views.open": 4,
    "views.publish": 4,
    "views.push": 4,
    "views.update": 4,
}


@dataclass
class RateLimitConfig:
    """What to enforce. ``scale`` multiplies every rate (0.5 halves them, 10 is ten times)."""

    enabled: bool = True
    scale: float = 1.0
    # A tier bucket holds this many seconds' worth of calls, Slack's "burst" allowance.
    tier_burst_seconds: float = 10.0
    post_message_per_channel_per_second: float = 1.0
    post_message_channel_burst: int = 3
    # Not published by Slack; observed ceilings are several hundred per minute.
    post_message_workspace_per_minute: float = 600.0
    tier_per_minute: dict[int, float] = field(default_factory=lambda: dict(TIER_PER_MINUTE))
    method_tiers: dict[str, int] = field(default_factory=lambda: dict(METHOD_TIERS))

    @classmethod
    def off(cls) -> RateLimitConfig:
        return cls(enabled=False)


@dataclass
class _Bucket:
    rate_per_second: float
    capacity: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one token; return 0 if granted, else the seconds until one is due."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate_per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate_per_second


class RateLimiter:
    """Decides whether a call may go through; thread-safe."""

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self._lock = threading.Lock()

    def check(self, method: str, team_id: str, channel: str | None, now: float) -> int | None:
        """``None`` when allowed, else the ``Retry-After`` seconds to answer with."""
        if not self.config.enabled:
            return None
        with self._lock:
            wait = self._wait(method, team_id, channel, now)
        return math.ceil(wait) if wait > 0 else None

    def _wait(self, method: str, team_id: str, channel: str | None, now: float) -> float:
        if method == "chat.postMessage":
            return self._post_message_wait(team_id, channel or "", now)
        tier = self.config.method_tiers.get(method)
        if tier is None:
            return 0.0
        per_second = self.config.tier_per_minute[tier] / 60 * self.config.scale
        capacity = max(1.0, per_second * self.config.tier_burst_seconds)
        return self._bucket(("tier", method, team_id), per_second, capacity, now).take(now)

    def _post_message_wait(self, team_id: str, channel: str, now: float) -> float:
        cfg = self.config
        workspace_rate = cfg.post_message_workspace_per_minute / 60 * cfg.scale
        workspace = self._bucket(("post", team_id), workspace_rate, max(1.0, workspace_rate), now)
        channel_rate = cfg.post_message_per_channel_per_second * cfg.scale
        per_channel = self._bucket(
            ("post", team_id, channel), channel_rate, cfg.post_message_channel_burst, now
        )
        # Check the channel first so a refusal there does not spend a workspace token.
        return per_channel.take(now) or workspace.take(now)

    def _bucket(self, key: tuple[str, ...], rate: float, capacity: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(rate, float(capacity), float(capacity), now)
            self._buckets[key] = bucket
        return bucket
