"""`/lend WORD ...`: ack first, then find the subcommand, run it, and respond with its reply.

The router knows no subcommand itself: each listener module adds its words to the table when
it registers, so no listener imports another.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient

from handlers.acks import on_command
from handlers.context import CommandRequest, Reply, Services, Subcommand, Subcommands, identity_of
from storage.lending.lenders import meet_lender
from templates.render import render_message

logger = logging.getLogger(__name__)

COMMAND = "/lend"
# Bounds the work of parsing hostile input; an impact update's text fits well within it.
MAX_WORDS = 1_000


def usage(unknown: str | None = None) -> Reply:
    """What `/lend help` and anything /lend does not understand answer."""
    return Reply(render_message("help.json.j2", unknown=unknown))


def parse(text: str) -> tuple[str, list[str]]:
    """The subcommand word (lower-cased) and its arguments."""
    words = text.split()[:MAX_WORDS]
    if not words:
        return "help", []
    return words[0].lower(), words[1:]


def dispatch(table: Mapping[str, Subcommand], request: CommandRequest, word: str) -> Reply:
    subcommand = table.get(word)
    if subcommand is None:
        return usage(unknown=word)
    try:
        return subcommand(request)
    except Exception:
        # The person still deserves an answer; the traceback goes to the operator's log.
        logger.exception("/lend %s failed", word)
        return Reply(render_message("error.json.j2", problem=None, hint=None))


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    subcommands["help"] = lambda _request: usage()

    @on_command(app, COMMAND)
    def answer(
        body: dict[str, Any], context: BoltContext, respond: Respond, client: WebClient
    ) -> None:
        word, args = parse(str(body.get("text", "")))
        identity = identity_of(context, body)
        meet_lender(services.db.sessions, identity, now=services.clock())
        request = CommandRequest(
            services=services,
            identity=identity,
            channel_id=str(body.get("channel_id", "")),
            args=args,
            trigger_id=str(body.get("trigger_id", "")),
            client=client,
        )
        reply = dispatch(subcommands, request, word)
        respond(
            text=reply.message.text,
            blocks=reply.message.blocks,
            response_type="in_channel" if reply.in_channel else "ephemeral",
        )
