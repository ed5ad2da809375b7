"""Who the app is installed for and who a Slack user id names, asked of Slack.

Operator commands resolve people the way Slack requests do: in the installed workspace (from
``auth.test``), and only people Slack knows there. ``users.info`` is Tier 4 (100+ a minute),
so a handful of ids are looked up one by one; a long list is matched against ``users.list``
pages (Tier 2, 200 people a page) instead, so 115,000 ids cost 600 calls, not 115,000.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from storage.lending.lenders import SlackIdentity

PAGE_SIZE = 200
# One page every 3 seconds is Tier 2's 20 a minute: a steady read never meets a 429.
TIER_2_PAUSE = 3.0
# A 429 is waited out (Retry-After), not fatal: other callers may share the method's budget.
RATE_LIMIT_RETRIES = 5
# Up to this many unknown ids, users.info each; beyond, users.list pages.
LOOKUP_ONE_BY_ONE = 50

NOT_FOUND = "Slack knows no such user in this workspace"
DEACTIVATED = "their Slack account is deactivated"
A_BOT = "it is a bot or an app, not a person"
ELSEWHERE = "they belong to another workspace (Slack Connect), not the installed one"
# Slackbot is reported with is_bot false.
SLACKBOT = "USLACKBOT"


@dataclass(frozen=True)
class Installation:
    """The workspace (and, on Enterprise Grid, the organisation) the bot token belongs to."""

    team_id: str
    enterprise_id: str | None

    @property
    def org_key(self) -> str:
        # Lenders are keyed by the organisation on Enterprise Grid, else by the workspace.
        return self.enterprise_id or self.team_id

    def owns(self, member: dict[str, Any]) -> bool:
        """Whether a directory member is a person of this workspace or organisation."""
        profile_team = (member.get("enterprise_user") or {}).get("enterprise_id")
        return self.names(str(member.get("team_id") or "")) or (
            bool(profile_team) and profile_team == self.enterprise_id
        )

    def names(self, team: str) -> bool:
        return team in (self.team_id, self.enterprise_id)

    def identity(self, user_id: str) -> SlackIdentity:
        return SlackIdentity(user_id, self.team_id, self.enterprise_id)


def installation_of(client: WebClient) -> Installation:
    answer = client.auth_test()
    return Installation(str(answer["team_id"]), answer.get("enterprise_id") or None)


def person_problem(member: dict[str, Any] | None) -> str | None:
    """Why a ``users.info``/``users.list`` member cannot be a lender; None if they can."""
    if member is None:
        return NOT_FOUND
    if member.get("deleted"):
        return DEACTIVATED
    if member.get("is_bot") or member.get("is_app_user") or member.get("id") == SLACKBOT:
        return A_BOT
    return None


def lender_problem(member: dict[str, Any] | None, installation: Installation) -> str | None:
    """Why a member cannot be given credit in this installation; None if they can."""
    problem = person_problem(member)
    if problem is None and member is not None and not installation.owns(member):
        return ELSEWHERE
    return problem


def unusable_people(
    client: WebClient, installation: Installation, user_ids: Collection[str]
) -> dict[str, str]:
    """Those of ``user_ids`` that are not people of this workspace, each with the reason."""
    wait_out_rate_limits(client)
    if len(user_ids) <= LOOKUP_ONE_BY_ONE:
        members: Mapping[str, dict[str, Any] | None] = {
            user_id: _info(client, user_id) for user_id in user_ids
        }
    else:
        members = _listed(client, set(user_ids))
    problems = {user_id: lender_problem(members.get(user_id), installation) for user_id in user_ids}
    return {user_id: problem for user_id, problem in problems.items() if problem}


def wait_out_rate_limits(client: WebClient) -> None:
    if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES))


def directory_pages(
    client: WebClient, page_size: int = PAGE_SIZE, pause: float = TIER_2_PAUSE, cursor: str = ""
) -> Iterator[tuple[list[dict[str, Any]], str]]:
    """``users.list``, a page at a time from ``cursor``, paced to Tier 2, each with the cursor
    of the page after it ("" after the last)."""
    while True:
        answer = client.users_list(limit=page_size, cursor=cursor or None, include_locale=True)
        cursor = (answer.get("response_metadata") or {}).get("next_cursor") or ""
        yield list(answer.get("members") or []), cursor
        if not cursor:
            return
        time.sleep(pause)


def _info(client: WebClient, user_id: str) -> dict[str, Any] | None:
    try:
        member: dict[str, Any] = client.users_info(user=user_id)["user"]
    except SlackApiError as error:
        if error.response.get("error") == "user_not_found":
            return None
        raise
    return member


def _listed(client: WebClient, wanted: set[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for members, _next in directory_pages(client):
        found.update({member["id"]: member for member in members if member["id"] in wanted})
        if len(found) == len(wanted):
            break
    return found
