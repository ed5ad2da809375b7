"""The first time someone appears, ask Slack who they are, after the ack.

``users.info`` with ``include_locale`` (https://api.slack.com/methods/users.info) gives the time
zone their DMs wait for, their locale, whether they are a guest, of another organisation, a bot
or deactivated. It runs on the listener executor once the request has been acked, and at most
once a day per person. Whatever Slack answers (``user_not_found``, ``ratelimited`` after its
``Retry-After``s, a timeout), the person who clicked is not affected: the lookup is only logged,
their DMs fall back to the stored time zone after a short wait, and the next time they appear
(or the nightly sync) asks again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_bolt import BoltContext, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.slack_directory import wait_out_rate_limits
from handlers.people import profile_of
from storage.db.unit_of_work import transaction
from storage.lending.lenders import SlackIdentity
from storage.lending.rules import LeaverCredit
from storage.people.directory import ask_lookup, lookup_due, record_lookup, settle_lookup

logger = logging.getLogger(__name__)

# Events whose user is not someone using the app, or that carry the profile themselves.
NOT_AN_APPEARANCE = frozenset({"user_change", "team_join", "app_uninstalled", "tokens_revoked"})


# A lookup holds a listener thread while it waits: a hung one gives up well before Slack's 30 s.
LOOKUP_TIMEOUT_SECONDS = 10


def lookup_client(client: WebClient, token: str | None = None) -> WebClient:
    """A client of its own for lookups: waiting out a 429's Retry-After is right here, and
    must not become the behaviour of the client every listener answers with. ``token``: the
    one the request was served with (each installation has its own)."""
    return WebClient(
        token=token or client.token, base_url=client.base_url, timeout=LOOKUP_TIMEOUT_SECONDS
    )


@dataclass(frozen=True)
class FirstContact:
    client: WebClient
    factory: sessionmaker[Session]
    clock: Callable[[], datetime]
    leaver_credit: LeaverCredit

    def meet(self, identity: SlackIdentity, token: str | None = None) -> None:
        """Look someone up unless it was done in the last day, with ``token`` (the request's
        installation's; by default the client's); never raises."""
        try:
            self._meet(identity, lookup_client(self.client, token))
        except (SlackApiError, SlackClientError, OSError) as failure:
            logger.warning(
                "users.info for %s failed (%s): asked again later", identity.user_id, failure
            )

    def _meet(self, identity: SlackIdentity, client: WebClient) -> None:
        # Every request of a known person passes here: a read settles most, and only a lookup
        # that is due takes a write transaction (SQLite's one writer lock) to note it.
        with self.factory() as session:
            if not lookup_due(session, identity, now=self.clock()):
                return
        with transaction(self.factory) as session:
            if not lookup_due(session, identity, now=self.clock()):
                return
            ask_lookup(session, identity, now=self.clock())
        wait_out_rate_limits(client)
        try:
            user = client.users_info(user=identity.user_id, include_locale=True)["user"]
        except SlackApiError as error:
            if error.response.get("error") != "user_not_found":
                raise
            logger.info("users.info does not know %s: nothing stored", identity.user_id)
            with transaction(self.factory) as session:
                settle_lookup(session, identity)
            return
        profile = profile_of(user, identity.team_id, identity.enterprise_id)
        with transaction(self.factory) as session:
            record_lookup(session, identity, profile, self.leaver_credit, now=self.clock())


def appearance(context: BoltContext, body: Mapping[str, Any]) -> SlackIdentity | None:
    """Who a request shows using the app, if anyone: a command, a click, an event of theirs."""
    user_id = context.user_id
    event = body.get("event")
    kind = event.get("type") if isinstance(event, dict) else None
    if not user_id or user_id == context.bot_user_id or kind in NOT_AN_APPEARANCE:
        return None
    return SlackIdentity(user_id, context.team_id or None, context.enterprise_id or None)


def look_up_newcomers(
    contact: FirstContact, executor: Executor
) -> Callable[..., BoltResponse | None]:
    """A middleware that lets the request through first, then hands the lookup to ``executor``."""

    def middleware(
        context: BoltContext,
        body: dict[str, Any],
        request: BoltRequest,
        next_: Callable[[], BoltResponse],
    ) -> BoltResponse | None:
        response = next_()
        # A worker process's second dispatch of the same request is not a second appearance.
        identity = None if request.lazy_only else appearance(context, body)
        if identity is not None:
            executor.submit(contact.meet, identity, context.bot_token)
        return response

    return middleware
