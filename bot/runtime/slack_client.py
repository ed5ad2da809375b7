"""A thin wrapper over slack_sdk's WebClient that turns Slack's failures into a few meaningful
exceptions (after Grafana OnCall's ``SlackClient``), so the delivery worker decides per case:
wait (rate limited), stop for the workspace (token revoked), give up on a recipient (channel
gone) or retry later (anything else)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from templates.render import RenderedMessage

# The app is uninstalled or its token withdrawn: nothing will work until it is reinstalled.
WORKSPACE_GONE = frozenset(
    {"token_revoked", "account_inactive", "invalid_auth", "not_authed", "team_access_not_granted"}
)
# This recipient cannot be reached, and trying again will not change that.
RECIPIENT_GONE = frozenset(
    {
        "channel_not_found",
        "is_archived",
        "not_in_channel",
        "user_not_found",
        "user_disabled",
        "cannot_dm_bot",
        "messages_tab_disabled",
    }
)
# The message itself is wrong: sending it again would be refused again.
UNSENDABLE = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_arguments"}
)
DEFAULT_RETRY_AFTER = 1.0


class SlackDeliveryError(Exception):
    """Slack refused or could not be reached; ``error`` is Slack's name for it."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class RateLimited(SlackDeliveryError):
    def __init__(self, retry_after: float) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


class WorkspaceGone(SlackDeliveryError):
    """Token revoked or account inactive."""


class RecipientGone(SlackDeliveryError):
    """Channel not found, user deactivated, ..."""


class Unsendable(SlackDeliveryError):
    """Slack refuses the message as it is (blocks it does not accept, text too long)."""


def _mapped(error: SlackApiError) -> SlackDeliveryError:
    response = error.response
    if response.status_code == 429:
        header = response.headers.get("Retry-After") or response.headers.get("retry-after")
        return RateLimited(float(header) if header else DEFAULT_RETRY_AFTER)
    name = str(response.get("error") or "unknown_error")
    if name in WORKSPACE_GONE:
        return WorkspaceGone(name)
    if name in RECIPIENT_GONE:
        return RecipientGone(name)
    if name in UNSENDABLE:
        return Unsendable(name)
    return SlackDeliveryError(name)


class SlackClient:
    """Posts messages; thread-safe, since it holds nothing but the (thread-safe) ``WebClient``."""

    def __init__(self, web: WebClient) -> None:
        self._web = web

    def _call(self, method: str, **arguments: Any) -> dict[str, Any]:
        try:
            response = self._web.api_call(method, json=arguments)
        except SlackApiError as error:
            raise _mapped(error) from error
        except (SlackClientError, OSError) as error:
            # The network or Slack itself failed: worth another attempt later.
            raise SlackDeliveryError(f"{type(error).__name__}: {error}") from error
        return dict(response.data) if isinstance(response.data, dict) else {}

    def post_message(self, channel: str, message: RenderedMessage) -> str:
        """Post to a channel, or to a user id for the app's DM with them (its Messages tab,
        with no ``conversations.open`` first); returns the message ``ts``. Never sets
        ``link_names``."""
        response = self._call(
            "chat.postMessage", channel=channel, text=message.text, blocks=message.blocks
        )
        return str(response.get("ts", ""))
