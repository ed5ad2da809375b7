"""The composition root of the Slack side: one Bolt app with every listener registered."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import replace
from typing import Any

from slack_bolt import App
from slack_bolt.lazy_listener import ThreadLazyListenerRunner
from slack_sdk import WebClient

from bot.runtime.accepted_work import ThreadWorkRunner
from bot.runtime.first_contact import FirstContact, look_up_newcomers
from bot.runtime.installations import Installations, StoredAuthorize, oauth_flow
from bot.runtime.settings import Settings
from handlers import (
    admin,
    browsing,
    circles,
    credit,
    events,
    guards,
    home,
    lending,
    people,
    preferences,
    privacy,
    slash_command,
)
from handlers.context import Services, Subcommands
from storage.db.database import Database

# Each module registers its own listeners and `/lend` words with
# `register(app, services, subcommands)`; the router finds the words at request time.
LISTENER_MODULES = (
    guards,
    slash_command,
    browsing,
    lending,
    credit,
    preferences,
    home,
    events,
    people,
    circles,
    admin,
    privacy,
)


def create_app(
    settings: Settings,
    services: Services,
    *,
    client: WebClient | None = None,
    executor: Executor | None = None,
    verify_requests: bool = True,
) -> App:
    """Build the Bolt app; `client` defaults to one aimed at `settings.slack_api_url`.

    `executor` runs the work after each ack; tests pass one they can wait on. Only a worker
    process, whose requests the serving process verified, turns `verify_requests` off.
    """
    oauth = settings.oauth
    # With OAuth every request brings its installation's token; otherwise the one bot token
    # travels in the client and Bolt takes it from there.
    token = None if oauth else settings.slack_bot_token
    web_client = client or WebClient(token=token, base_url=settings.slack_api_url)
    installing: dict[str, Any] = {}
    if oauth is not None:
        installations = Installations(services.db.engine, oauth)
        services = replace(services, installations=installations)
        installing = {
            "oauth_flow": oauth_flow(services.db.engine, oauth, installations),
            "authorize": StoredAuthorize(installations),
        }
    app = App(
        signing_secret=settings.slack_signing_secret,
        client=web_client,
        # Ack first, then run the listener: Slack gives us three seconds for the ack only.
        process_before_response=False,
        listener_executor=executor,
        request_verification_enabled=verify_requests,
        **installing,
    )
    subcommands: Subcommands = {}
    for module in LISTENER_MODULES:
        module.register(app, services, subcommands)
    # What an ack promised is written down before the ack leaves, and done on threads here
    # unless `serve` and `run` hand it to worker processes instead.
    threads = app.listener_runner.lazy_listener_runner
    assert isinstance(threads, ThreadLazyListenerRunner)
    # After the guards and the event de-duplication: only requests the app serves, once.
    contact = FirstContact(
        web_client,
        services.db.sessions,
        services.clock,
        services.rules.leaver_credit,
    )
    app.middleware(look_up_newcomers(contact, threads.executor))
    app.listener_runner.lazy_listener_runner = ThreadWorkRunner(
        threads.executor, services.db.sessions, app.dispatch
    )
    return app


def services_for(settings: Settings, db: Database) -> Services:
    """The services every listener is given, from the settings and an open database."""
    return Services(
        db=db,
        rules=settings.rules,
        admins=settings.admins,
        privacy_contact=settings.privacy_contact,
        retention_days=settings.retention_days,
    )
