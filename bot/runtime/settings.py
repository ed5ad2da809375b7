"""Settings from the environment, validated at start-up with messages that name the variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from storage.ledger.money import AmountError, parse_amount
from storage.lending.rules import LeaverCredit, LendingRules

DEFAULT_DATABASE_URL = "sqlite:///microlend.db"
SLACK_API_URL = "https://slack.com/api/"
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")

SlackSetting = Literal[
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
]
# Where a workspace admin finds each, for a command that cannot start without it.
WHERE_TO_FIND: Mapping[SlackSetting, str] = MappingProxyType(
    {
        "SLACK_BOT_TOKEN": "the Bot User OAuth Token (xoxb-...) under OAuth & Permissions",
        "SLACK_SIGNING_SECRET": "the Signing Secret under Basic Information, App Credentials",
        "SLACK_APP_TOKEN": "an app-level token (xapp-...) with connections:write "
        "under Basic Information, App-Level Tokens",
        "SLACK_CLIENT_ID": "the Client ID under Basic Information, App Credentials",
        "SLACK_CLIENT_SECRET": "the Client Secret under Basic Information, App Credentials",
    }
)
# Installed through OAuth (many workspaces, an organisation) or with one bot token (a pilot).
OAUTH_SETTINGS: tuple[SlackSetting, ...] = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")
TOKEN_SETTINGS: tuple[SlackSetting, ...] = ("SLACK_BOT_TOKEN",)


@dataclass(frozen=True)
class OAuthApp:
    """The app's own credentials (Basic Information, App Credentials) and where Slack is."""

    client_id: str
    client_secret: str
    api_url: str


class SettingsError(ValueError):
    """A setting has a value microlend cannot use; the message says which and what it accepts."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    rules: LendingRules = field(default_factory=LendingRules)
    admins: frozenset[str] = frozenset()
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = SLACK_API_URL
    # With both, workspaces install the app through OAuth (bot.runtime.installations).
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    # The delivery worker's workspace-wide budget, and how often it tries before giving up.
    slack_per_minute: int = 600
    delivery_attempts: int = 6
    # Processes that work out /lend's answers after the ack (`bot/runtime/work_processes.py`);
    # 0 works them out on threads of the serving process.
    work_processes: int = 2
    # Whom a person writes to for an export or erasure of their data (`/lend privacy`).
    privacy_contact: str | None = None
    # Days after which sent notifications lose who they named (`storage.people.privacy`).
    retention_days: int = 400

    @property
    def currency(self) -> str:
        return self.rules.currency

    @property
    def oauth(self) -> OAuthApp | None:
        """The OAuth app, when SLACK_CLIENT_ID or SLACK_CLIENT_SECRET is set (``require`` with
        ``installed_by()`` names the other if it is missing)."""
        if not (self.slack_client_id and self.slack_client_secret):
            return None
        return OAuthApp(self.slack_client_id, self.slack_client_secret, self.slack_api_url)

    def installed_by(self) -> tuple[SlackSetting, ...]:
        """The settings tokens come from: the OAuth app's once either of its two is given."""
        if self.slack_client_id or self.slack_client_secret:
            return OAUTH_SETTINGS
        return TOKEN_SETTINGS

    def require(self, command: str, *names: SlackSetting) -> None:
        """Refuse to start ``command`` without the Slack settings it needs, naming each missing
        one and where to find it."""
        given = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_APP_TOKEN": self.slack_app_token,
            "SLACK_CLIENT_ID": self.slack_client_id,
            "SLACK_CLIENT_SECRET": self.slack_client_secret,
        }
        missing = [name for name in names if not given[name]]
        if missing:
            found = "; ".join(f"{name} is {WHERE_TO_FIND[name]}" for name in missing)
            raise SettingsError(
                f"{command} cannot start without {' and '.join(missing)} in the environment. "
                f"{found}."
            )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    currency = env.get("MICROLEND_CURRENCY", "EUR").strip().upper()
    if not CURRENCY.match(currency):
        raise SettingsError(
            f"MICROLEND_CURRENCY={currency!r}: use a three-letter ISO 4217 code such as EUR."
        )
    rules = LendingRules(
        currency=currency,
        min_pledge=_amount(env, "MICROLEND_MIN_PLEDGE", "20.00", currency),
        fundraising_days=_whole(env, "MICROLEND_FUNDRAISING_DAYS", "30", 1, 365, "days"),
        monthly_cap=_amount(env, "MICROLEND_MONTHLY_CAP", "500.00", currency),
        leaver_credit=_leaver_credit(env.get("MICROLEND_LEAVER_CREDIT", "payout")),
    )
    return Settings(
        database_url=_database_url(env.get("DATABASE_URL", DEFAULT_DATABASE_URL)),
        rules=rules,
        admins=_admins(env.get("MICROLEND_ADMINS", "")),
        slack_bot_token=env.get("SLACK_BOT_TOKEN") or None,
        slack_signing_secret=env.get("SLACK_SIGNING_SECRET") or None,
        slack_app_token=_app_token(env.get("SLACK_APP_TOKEN") or None),
        slack_api_url=_api_url(env.get("SLACK_API_URL", SLACK_API_URL)),
        slack_client_id=env.get("SLACK_CLIENT_ID", "").strip() or None,
        slack_client_secret=env.get("SLACK_CLIENT_SECRET", "").strip() or None,
        slack_per_minute=_whole(env, "MICROLEND_SLACK_PER_MINUTE", "600", 1, 1_000_000, "messages"),
        delivery_attempts=_whole(env, "MICROLEND_DELIVERY_ATTEMPTS", "6", 1, 100, "attempts"),
        work_processes=_whole(env, "MICROLEND_WORK_PROCESSES", "2", 0, 64, "processes"),
        privacy_contact=env.get("MICROLEND_PRIVACY_CONTACT", "").strip() or None,
        retention_days=retention_days(env),
    )


def retention_days(environ: Mapping[str, str] | None = None) -> int:
    """MICROLEND_RETENTION_DAYS alone, for the purge job, whose context is built without it."""
    env = os.environ if environ is None else environ
    return _whole(env, "MICROLEND_RETENTION_DAYS", "400", 1, 36_500, "days")


def _leaver_credit(value: str) -> LeaverCredit:
    try:
        return LeaverCredit(value.strip().lower())
    except ValueError:
        choices = " or ".join(choice.value for choice in LeaverCredit)
        raise SettingsError(f"MICROLEND_LEAVER_CREDIT={value!r}: use {choices}.") from None


def _amount(env: Mapping[str, str], name: str, default: str, currency: str) -> int:
    try:
        return parse_amount(env.get(name, default), currency=currency)
    except AmountError as error:
        raise SettingsError(f"{name}: {error} (an amount in {currency}, like {default}).") from None


def _whole(
    env: Mapping[str, str], name: str, default: str, least: int, most: int, unit: str
) -> int:
    text = env.get(name, default).strip()
    if not text.isascii() or not text.isdigit() or not least <= int(text) <= most:
        raise SettingsError(
            f"{name}={text!r}: use a whole number of {unit} from {least} to {most}."
        )
    return int(text)


def _database_url(url: str) -> str:
    if url.startswith(("sqlite:///", "postgresql+psycopg://")):
        return url
    raise SettingsError(
        f"DATABASE_URL={url!r}: use sqlite:///FILE or postgresql+psycopg://USER@HOST:PORT/DB."
    )


def _admins(text: str) -> frozenset[str]:
    ids = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    bad = [user_id for user_id in ids if not USER_ID.match(user_id)]
    if bad:
        raise SettingsError(
            f"MICROLEND_ADMINS: {', '.join(bad)} is not a Slack user id; "
            "give comma-separated ids like U012ABCDEF."
        )
    return frozenset(ids)


def _app_token(token: str | None) -> str | None:
    if token is not None and not token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN: an app-level token starts with xapp-.")
    return token


def _api_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"SLACK_API_URL={url!r}: use an http(s) URL ending in /api/.")
    return url if url.endswith("/") else url + "/"
