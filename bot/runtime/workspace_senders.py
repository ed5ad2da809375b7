"""Who sends to each workspace: the token of its installation, and its own share of Slack's
limits.

Slack's rate limits are per workspace (https://api.slack.com/apis/rate-limits), and so is a
``429``'s ``Retry-After``: each workspace has its own limiter, over its own budget in the
database, so one workspace's pause holds back no other. With a single bot token
(``SLACK_BOT_TOKEN``) there is one workspace and one sender.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.installations import Installations
from bot.runtime.send_limiter import RateLimits, WorkspaceRateLimiter
from bot.runtime.slack_client import SlackClient
from storage.installations.models import Workspace
from storage.notifications.send_budget import SharedBudget

# A workspace's token is looked up again after this long: a rotated or revoked one is
# noticed within it (a token is refreshed two hours before it expires).
TOKEN_TTL_SECONDS = 60.0


@dataclass(frozen=True)
class Sender:
    slack: SlackClient
    limiter: WorkspaceRateLimiter


class Senders(Protocol):
    def for_workspace(self, workspace_id: int | None) -> Sender | None:
        """None: microlend holds no installation for that workspace (any more)."""
        ...


@dataclass(frozen=True)
class OneToken:
    """A single bot token: every message goes with it, at one workspace's pace."""

    sender: Sender

    def for_workspace(self, workspace_id: int | None) -> Sender | None:
        return self.sender


class Installed:
    """OAuth mode: each workspace's messages go with its installation's token."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        installations: Installations,
        api_url: str,
        limits: RateLimits,
        *,
        budget_name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.factory = factory
        self.installations = installations
        self.api_url = api_url
        self.limits = limits
        self.budget_name = budget_name
        self.clock = clock
        self._lock = threading.Lock()
        self._limiters: dict[int, WorkspaceRateLimiter] = {}
        self._clients: dict[int, tuple[float, SlackClient | None]] = {}

    def for_workspace(self, workspace_id: int | None) -> Sender | None:
        if workspace_id is None:
            return None
        client = self._client(workspace_id)
        return None if client is None else Sender(client, self._limiter(workspace_id))

    def _client(self, workspace_id: int) -> SlackClient | None:
        now = self.clock()
        with self._lock:
            cached = self._clients.get(workspace_id)
        if cached is not None and now - cached[0] < TOKEN_TTL_SECONDS:
            return cached[1]
        client = self._look_up(workspace_id)
        with self._lock:
            self._clients[workspace_id] = (now, client)
        return client

    def _look_up(self, workspace_id: int) -> SlackClient | None:
        with self.factory() as session:
            workspace = session.get(Workspace, workspace_id)
            if workspace is None:
                return None
            enterprise_id, team_id = workspace.enterprise_id, workspace.team_id
        found = self.installations.for_workspace(enterprise_id, team_id)
        if found is None or not found.bot_token:
            return None
        return SlackClient(WebClient(token=found.bot_token, base_url=self.api_url))

    def _limiter(self, workspace_id: int) -> WorkspaceRateLimiter:
        with self._lock:
            found = self._limiters.get(workspace_id)
            if found is None:
                budget = SharedBudget(self.factory, f"{self.budget_name}:{workspace_id}")
                found = WorkspaceRateLimiter(self.limits, budget=budget)
                self._limiters[workspace_id] = found
            return found
