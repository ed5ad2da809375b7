"""The emulated workspace's seed: who exists, which channels, which secrets, which limits."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.devtools.emulator.rate_limits import RateLimitConfig

Clock = Callable[[], float]


@dataclass
class User:
    id: str
    name: str
    real_name: str = ""
    # A person's Slack user object (https://api.slack.com/types/user): time zone, locale
    # (users.info with include_locale), guest flags. UTC unless a test or the demo says.
    tz: str = "UTC"
    tz_offset: int = 0
    tz_label: str = "Coordinated Universal Time"
    locale: str = "en-US"
    is_admin: bool = False
    is_bot: bool = False
    deleted: bool = False
    # Guests: multi-channel (restricted) and single-channel (ultra restricted).
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    # The workspace the person belongs to, when it is not this one (Slack Connect).
    team_id: str | None = None


@dataclass
class Channel:
    id: str
    name: str
    members: list[str] = field(default_factory=list)
    is_private: bool = False
    # Set for a direct-message channel: the human on the other side of the app.
    dm_user: str | None = None
    created: int = 0

    @property
    def is_im(self) -> bool:
        return self.dm_user is not None


@dataclass
class EmulatorConfig:
    team_id: str = "T0EMULATOR"
    team_name: str = "microlend"
    team_domain: str = "microlend"
    enterprise_id: str | None = None
    app_id: str = "A0EMULATOR"
    bot_user_id: str = "U0BOT"
    bot_id: str = "B0BOT"
    bot_name: str = "microlend"
    bot_token: str = "xoxb-emulator-bot-token"
    signing_secret: str = "emulator-signing-secret"
    # The legacy verification token Slack still puts in payloads.
    verification_token: str = "emulator-verification-token"
    users: list[User] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    rate_limits: RateLimitConfig = field(default_factory=RateLimitConfig)
    # Slack's trigger_id is valid for 3 seconds.
    trigger_ttl_seconds: float = 3.0
    # Handlers never block, so two threads are plenty; more only contend for the GIL.
    server_threads: int = 2
    clock: Clock = time.time

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmulatorConfig:
        data = dict(data)
        users = [User(**u) for u in data.pop("users", [])]
        channels = [Channel(**c) for c in data.pop("channels", [])]
        limits_data = dict(data.pop("rate_limits", {}))
        # JSON object keys are strings; tiers are numbered.
        if "tier_per_minute" in limits_data:
            tiers = limits_data["tier_per_minute"].items()
            limits_data["tier_per_minute"] = {int(k): v for k, v in tiers}
        limits = RateLimitConfig(**limits_data)
        return cls(**data, users=users, channels=channels, rate_limits=limits)

    @classmethod
    def from_json(cls, path: str | Path) -> EmulatorConfig:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
