"""The HTTP side: a WSGI app answering Slack's Web API and response_urls, and a waitress
server running any WSGI app in a background thread (the tests serve Bolt with it too)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from waitress.server import BaseWSGIServer, create_server

from bot.devtools.emulator.rate_limits import RateLimiter
from bot.devtools.emulator.state import (
    Call,
    JsonDict,
    Message,
    ResponseTarget,
    SlackError,
    WorkspaceState,
)
from bot.devtools.emulator.web_api import METHODS, message_content
from bot.runtime.waitress_thread import bound_port, stop_server_thread

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

API_PREFIX = "/api/"
RESPONSE_URL_PREFIX = "/actions/"
_JSON = ("Content-Type", "application/json; charset=utf-8")


class _Reply:
    """An HTTP answer before it is written: status, JSON body, extra headers."""

    def __init__(self, status: int, body: JsonDict, headers: list[tuple[str, str]] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or []


class EmulatorWsgiApp:
    """Routes ``/api/<method>`` to the Web API and ``/actions/<id>`` to response_urls."""

    def __init__(self, state: WorkspaceState, limiter: RateLimiter) -> None:
        self.state = state
        self.limiter = limiter

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path.startswith(API_PREFIX):
            reply = self._web_api(path[len(API_PREFIX) :], environ)
        elif path.startswith(RESPONSE_URL_PREFIX):
            reply = self._response_url(path[len(RESPONSE_URL_PREFIX) :], environ)
        else:
            reply = _Reply(404, {"ok": False, "error": "not_found"})
        body = json.dumps(reply.body).encode()
        headers = [_JSON, ("Content-Length", str(len(body))), *reply.headers]
        start_response(f"{reply.status} {_REASONS.get(reply.status, 'OK')}", headers)
        return [body]

    # -- Web API -----------------------------------------------------------------------

    def _web_api(self, method: str, environ: dict[str, Any]) -> _Reply:
        try:
            args = _read_args(environ)
        except ValueError:
            return self._logged(method, {}, _Reply(200, {"ok": False, "error": "invalid_json"}))
        token = _bearer(environ) or str(args.pop("token", "") or "")
        args.pop("token", None)
        return self._logged(method, args, self._answer(method, token, args))

    def _answer(self, method: str, token: str, args: JsonDict) -> _Reply:
        handler = METHODS.get(method)
        if handler is None:
            return _error("unknown_method", req_method=method)
        auth_error = self._auth_error(token)
        if auth_error:
            return _error(auth_error)
        now = self.state.config.clock()
        channel = args.get("channel")
        retry_after = self.limiter.check(
            method, self.state.config.team_id, str(channel) if channel else None, now
        )
        if retry_after is not None:
            body = {"ok": False, "error": "ratelimited"}
            return _Reply(429, body, [("Retry-After", str(retry_after))])
        try:
            return _Reply(200, handler(self.state, args))
        except SlackError as failure:
            return _error(failure.error, messages=failure.messages)

    def _auth_error(self, token: str) -> str | None:
        if not token:
            return "not_authed"
        revoked = self.state.revoked_tokens.get(token)
        if revoked:
            return revoked
        return None if token == self.state.config.bot_token else "invalid_auth"

    def _logged(self, method: str, args: JsonDict, reply: _Reply) -> _Reply:
        now = self.state.config.clock()
        self.state.record_call(Call(method, args, reply.status, reply.body, now))
        return reply

    # -- response_url ------------------------------------------------------------------

    def _response_url(self, target_id: str, environ: dict[str, Any]) -> _Reply:
        target = self.state.response_target(target_id)
        try:
            args = _read_args(environ)
        except ValueError:
            return self._logged("response_url", {}, _error("invalid_json", status=400))
        if target is None:
            return self._logged("response_url", args, _error("not_found", status=404))
        try:
            self._respond(target, args)
        except SlackError as failure:
            reply = _error(failure.error, status=400, messages=failure.messages)
            return self._logged("response_url", args, reply)
        return self._logged("response_url", args, _Reply(200, {"ok": True}))

    def _respond(self, target: ResponseTarget, args: JsonDict) -> None:
        """Apply a Bolt ``respond()``: delete, replace, or post ephemeral or in channel."""
        state = self.state
        if _truthy(args.get("delete_original")):
            if target.message_ts:
                state.delete_message(state.find_message(target.channel_id, target.message_ts))
            return
        text, blocks = message_content(args)
        if _truthy(args.get("replace_original")) and target.message_ts:
            original = state.find_message(target.channel_id, target.message_ts)
            with state.lock:
                original.text, original.blocks = text, blocks
                original.edited_ts = state.next_ts()
            return
        in_channel = args.get("response_type") == "in_channel"
        state.add_message(
            Message(
                channel=target.channel_id,
                ts=state.next_ts(),
                text=text,
                blocks=blocks,
                user=state.config.bot_user_id,
                thread_ts=args.get("thread_ts") or None,
                ephemeral_to=None if in_channel else target.user_id,
                source="response_url",
            )
        )


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


def _error(
    error: str, *, status: int = 200, messages: list[str] | None = None, **extra: Any
) -> _Reply:
    """Slack answers most failures with HTTP 200 and ``ok: false``."""
    body: JsonDict = {"ok": False, "error": error, **extra}
    if messages:
        body["response_metadata"] = {"messages": messages}
    return _Reply(status, body)


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _bearer(environ: dict[str, Any]) -> str:
    header: str = environ.get("HTTP_AUTHORIZATION", "")
    return header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""


def _read_args(environ: dict[str, Any]) -> JsonDict:
    """Query string plus body, JSON or form-encoded; raises ValueError on bad JSON."""
    args: JsonDict = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw:
        return args
    if environ.get("CONTENT_TYPE", "").startswith("application/json"):
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ValueError("a JSON body must be an object")
        args.update(body)
    else:
        args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    return args


class BackgroundServer:
    """A waitress server for any WSGI app on 127.0.0.1, in a daemon thread."""

    def __init__(self, app: WsgiApp, *, host: str = "127.0.0.1", port: int = 0, threads: int = 4):
        self.app = app
        self.host = host
        self.port = port
        self.threads = threads
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        # Under load waitress warns about its task queue; a local emulator expects that.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        server = create_server(
            self.app, host=self.host, port=self.port, threads=self.threads, ident="slack-emulator"
        )
        assert isinstance(server, BaseWSGIServer)
        self._server = server
        self.port = bound_port(server)
        self._thread = threading.Thread(target=server.run, name="emulator-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        stop_server_thread(server, thread)
        self._server = self._thread = None
