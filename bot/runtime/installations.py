"""Which installation serves a request, a DM or a job: Bolt's OAuth with slack_sdk's stores.

With ``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET`` microlend installs the way Slack apps
install (https://api.slack.com/authentication/oauth-v2): Bolt serves ``/slack/install`` and
``/slack/oauth_redirect``, slack_sdk's SQLAlchemy stores keep installations and OAuth states in
microlend's own database (migration 0011), and each request, DM and job is served with the
token of the installation its workspace (or Enterprise Grid organisation) resolves to.

Token rotation (https://api.slack.com/authentication/rotation): a bot token that expires is
refreshed with slack_sdk's ``TokenRotator`` by whichever process needs it (the request path,
the delivery worker, a job), under a lock every process shares (``token_lock``), so that two
workers never spend one refresh token: Slack's refresh tokens are single-use. Bolt's own
``InstallationStoreAuthorize`` refreshes without a lock, calls ``auth.test`` on every request
and aims its rotator at slack.com whatever ``SLACK_API_URL`` says; ``StoredAuthorize`` answers
from the stored installation instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.settings import OAuthApp
from bot.runtime.token_lock import token_lock
from storage.installations.models import Workspace

logger = logging.getLogger(__name__)

# The manifest's bot scopes (app.yaml; tests/test_manifest.py keeps them in step).
BOT_SCOPES = ("commands", "chat:write", "channels:read", "groups:read", "users:read")
# A token is refreshed this long before it expires (Slack's last 12 hours: a margin for a
# worker that sends for a while with the token it holds).
REFRESH_BEFORE_MINUTES = 120
# How long an install link's state stays valid.
STATE_SECONDS = 10 * 60
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def authorization_url(api_url: str) -> str:
    """Slack's authorize page beside its Web API: ``https://slack.com/oauth/v2/authorize`` for
    ``https://slack.com/api/``, the emulator's for the emulator's."""
    root = api_url.rstrip("/").removesuffix("/api")
    return f"{root}/oauth/v2/authorize"


class Installations:
    """The installations microlend holds, each with a current bot token."""

    def __init__(self, engine: Engine, app: OAuthApp, *, clock: Callable[[], float] = time.time):
        self.engine = engine
        self.store = SQLAlchemyInstallationStore(client_id=app.client_id, engine=engine)
        self.rotator = TokenRotator(
            client_id=app.client_id,
            client_secret=app.client_secret,
            client=WebClient(base_url=app.api_url),
        )
        self.clock = clock

    def find(
        self, *, enterprise_id: str | None, team_id: str | None, org_wide: bool
    ) -> Installation | None:
        """The installation of a workspace (``org_wide``: of an organisation), its token fresh."""
        found = self._latest(enterprise_id, team_id, org_wide)
        if found is None or not self._expiring(found):
            return found
        # Another process may be refreshing the same token: the lock makes it wait, and the
        # installation read again under the lock is then already fresh.
        with token_lock(self.engine, f"{enterprise_id}:{None if org_wide else team_id}"):
            latest = self._latest(enterprise_id, team_id, org_wide)
            if latest is None or not self._expiring(latest):
                return latest
            refreshed = self.rotator.perform_token_rotation(
                installation=latest, minutes_before_expiration=REFRESH_BEFORE_MINUTES
            )
            if refreshed is None:
                return latest
            self.store.save(refreshed)
            logger.info("refreshed the bot token of %s", enterprise_id or team_id)
            return refreshed

    def for_workspace(self, enterprise_id: str | None, team_id: str | None) -> Installation | None:
        """What serves a workspace: its organisation's org-wide installation, else its own."""
        if enterprise_id:
            org_wide = self.find(enterprise_id=enterprise_id, team_id=None, org_wide=True)
            if org_wide is not None:
                return org_wide
        return self.find(enterprise_id=enterprise_id, team_id=team_id, org_wide=False)

    def forget(self, enterprise_id: str | None, team_id: str | None) -> None:
        """Delete an installation's tokens (``app_uninstalled``, ``tokens_revoked``)."""
        self.store.delete_all(enterprise_id=enterprise_id, team_id=team_id)

    def _latest(
        self, enterprise_id: str | None, team_id: str | None, org_wide: bool
    ) -> Installation | None:
        found = self.store.find_installation(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide
        )
        if found is None or found.bot_token is None or found.is_enterprise_install != org_wide:
            return None
        return found

    def _expiring(self, installation: Installation) -> bool:
        expires_at = installation.bot_token_expires_at
        if installation.bot_refresh_token is None or expires_at is None:
            return False
        return expires_at <= self.clock() + REFRESH_BEFORE_MINUTES * 60


class StoredAuthorize(Authorize):
    """Bolt's authorize step answered from the stored installation: no ``auth.test`` per
    request (the ack path makes no Slack call), rotation under the shared lock."""

    def __init__(self, installations: Installations) -> None:
        self.installations = installations

    def __call__(
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **_actor: Any,
    ) -> AuthorizeResult | None:
        try:
            found = self._installation(context, enterprise_id, team_id)
        except SlackTokenRotationError as failure:
            logger.error("could not refresh the token of %s: %s", enterprise_id or team_id, failure)
            return None
        if found is None:
            # Bolt refuses the request then, with no effect, and logs it once.
            return None
        return AuthorizeResult(
            enterprise_id=found.enterprise_id,
            team_id=team_id or found.team_id,
            bot_user_id=found.bot_user_id,
            bot_id=found.bot_id,
            bot_token=found.bot_token,
            bot_scopes=found.bot_scopes,
            user_id=user_id,
        )

    def _installation(
        self, context: BoltContext, enterprise_id: str | None, team_id: str | None
    ) -> Installation | None:
        if context.is_enterprise_install:
            return self.installations.find(enterprise_id=enterprise_id, team_id=None, org_wide=True)
        return self.installations.for_workspace(enterprise_id, team_id)


class GridAwareOAuthFlow(OAuthFlow):
    """Bolt's flow, except for what Bolt gets wrong on Enterprise Grid: an org admin who
    approves an org-wide install from the admin pages comes back with a code and no ``state``
    (no browser of ours began it: slackapi/bolt-python#1004, #1091), which Bolt refuses. Here a
    state-less callback is exchanged and kept only if it is an org-wide installation, the one
    case Slack sends it for; anything else without a state is refused as Bolt refuses it."""

    def handle_callback(self, request: BoltRequest) -> BoltResponse:
        if request.query.get("state") or not request.query.get("code"):
            return super().handle_callback(request)
        code = request.query["code"][0]
        installation = self.run_installation(code)
        if installation is None or not installation.is_enterprise_install:
            return self._refused(request, "invalid_state")
        self.store_installation(request, installation)
        return self._done(request, installation)

    def _refused(self, request: BoltRequest, reason: str) -> BoltResponse:
        args = FailureArgs(
            request=request,
            reason=reason,
            suggested_status_code=401,
            settings=self.settings,
            default=self.default_callback_options,
        )
        return self.failure_handler(args)

    def _done(self, request: BoltRequest, installation: Installation) -> BoltResponse:
        args = SuccessArgs(
            request=request,
            installation=installation,
            settings=self.settings,
            default=self.default_callback_options,
        )
        return self.success_handler(args)


def oauth_flow(engine: Engine, app: OAuthApp, installations: Installations) -> OAuthFlow:
    """The install page, the redirect and the stores, on microlend's database."""
    settings = OAuthSettings(
        client_id=app.client_id,
        client_secret=app.client_secret,
        scopes=list(BOT_SCOPES),
        installation_store=installations.store,
        state_store=SQLAlchemyOAuthStateStore(expiration_seconds=STATE_SECONDS, engine=engine),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorization_url(app.api_url),
        token_rotation_expiration_minutes=REFRESH_BEFORE_MINUTES,
    )
    return GridAwareOAuthFlow(client=WebClient(base_url=app.api_url), settings=settings)


def bot_client(installation: Installation, api_url: str) -> WebClient:
    return WebClient(token=installation.bot_token, base_url=api_url)


def installed_clients(
    installations: Installations, factory: sessionmaker[Session], api_url: str
) -> list[WebClient]:
    """A client for each installation that serves a workspace with lenders, each once."""
    with factory() as session:
        places = session.execute(
            select(Workspace.enterprise_id, Workspace.team_id).where(Workspace.active.is_(True))
        ).all()
    tokens: dict[str, None] = {}
    for enterprise_id, team_id in places:
        found = installations.for_workspace(enterprise_id, team_id)
        if found is not None and found.bot_token:
            tokens[found.bot_token] = None
    return [WebClient(token=token, base_url=api_url) for token in tokens]
