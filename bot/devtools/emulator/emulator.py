"""The ``Emulator`` facade: one object a test fixture or a console holds to play Slack."""

from __future__ import annotations

from types import TracebackType

from slack_sdk import WebClient

from bot.devtools.emulator.config import Channel, EmulatorConfig, User
from bot.devtools.emulator.rate_limits import RateLimiter
from bot.devtools.emulator.sender import AppSender
from bot.devtools.emulator.server import (
    API_PREFIX,
    RESPONSE_URL_PREFIX,
    BackgroundServer,
    EmulatorWsgiApp,
)
from bot.devtools.emulator.state import Call, Message, View, WorkspaceState


class Emulator:
    """A local Slack: a Web API on 127.0.0.1 and a sender of Slack's requests to the app.

    >>> with Emulator() as slack:
    ...     alice = slack.add_user("alice")
    ...     client = slack.client()          # a slack_sdk WebClient aimed at the emulator
    ...     app = slack.connect("http://127.0.0.1:3000/slack/events")
    ...     app.slash_command(alice.id, "/lend", "help")
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.state = WorkspaceState(self.config)
        self.rate_limiter = RateLimiter(self.config.rate_limits)
        self.wsgi_app = EmulatorWsgiApp(self.state, self.rate_limiter)
        self._server = BackgroundServer(self.wsgi_app, threads=self.config.server_threads)
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Emulator:
        if not self._started:
            self._server.start()
            self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._server.stop()
            self._started = False

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The server's root, e.g. ``http://127.0.0.1:51234``."""
        if not self._started:
            raise RuntimeError("start the emulator first")
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def base_url(self) -> str:
        """What ``WebClient(base_url=...)`` takes: ``http://127.0.0.1:PORT/api/``."""
        return self.url + API_PREFIX

    @property
    def bot_token(self) -> str:
        return self.config.bot_token

    @property
    def signing_secret(self) -> str:
        return self.config.signing_secret

    def client(self, token: str | None = None) -> WebClient:
        return WebClient(token=token or self.bot_token, base_url=self.base_url)

    def connect(self, app_url: str, timeout: float = 10.0) -> AppSender:
        """A sender of Slack's requests to the app's endpoint (its response_urls point here)."""
        return AppSender(self.state, app_url, self.url + RESPONSE_URL_PREFIX, timeout)

    # -- the workspace -----------------------------------------------------------------

    def add_user(self, name: str, **profile: object) -> User:
        return self.state.add_user(name, **profile)

    def add_channel(
        self, name: str, members: list[str] | None = None, *, is_private: bool = False
    ) -> Channel:
        return self.state.add_channel(name, members, is_private=is_private)

    def revoke_token(self, token: str, reason: str = "token_revoked") -> None:
        """From now on the token fails with ``reason`` (``token_revoked``/``account_inactive``)."""
        with self.state.lock:
            self.state.revoked_tokens[token] = reason

    # -- what happened -----------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        return self.state.calls(method)

    def messages(self, channel: str) -> list[Message]:
        return self.state.messages(self.state.resolve_channel(channel).id)

    def dms(self, user_id: str) -> list[Message]:
        return self.state.dms(user_id)

    def ephemerals(self, user_id: str, channel_id: str | None = None) -> list[Message]:
        return self.state.ephemerals(user_id, channel_id)

    def home_view(self, user_id: str) -> View | None:
        return self.state.home_view(user_id)

    def modal_stack(self, user_id: str) -> list[View]:
        return self.state.modal_stack(user_id)
