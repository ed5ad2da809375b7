"""The Home tab: published when the lender opens it, and again after they act."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from handlers.context import Services
from storage.lenders import SlackIdentity
from templates.render import render_view


def publish_home(client: WebClient, services: Services, identity: SlackIdentity) -> None:
    client.views_publish(user_id=identity.user_id, view=render_view("home.json.j2"))


def register(app: App, services: Services) -> None:
    """The Home tab is published by `handlers.events` and after each action."""
