"""The Home tab: published when the lender opens it, and again after they act."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from handlers.context import Services
from storage.db.unit_of_work import transaction
from storage.lending import portfolio
from storage.lending.lenders import SlackIdentity, ensure_lender
from storage.projects import catalogue
from templates.render import render_view

# The newest loans shown; with the rest of the tab this stays far below the 100-block limit,
# and a lender with 500 loans sees these and a summary of all of them.
HOME_LOANS = 20
FEATURED = 3


def build_home(services: Services, identity: SlackIdentity) -> dict[str, Any]:
    """The Home view: a fixed number of statements, however many loans the lender has."""
    now = services.clock()
    with transaction(services.db.sessions) as session:
        lender_id = ensure_lender(session, identity, now=now).id
        held = portfolio.lender_portfolio(session, lender_id, limit=HOME_LOANS)
        featured = catalogue.featured(session, now, limit=FEATURED)
        circles = portfolio.lender_circles(session, lender_id)
        totals = portfolio.company_totals(session)
    return render_view(
        "home.json.j2",
        currency=services.rules.currency,
        portfolio=held,
        featured=featured,
        circles=circles,
        totals=totals,
    )


def publish_home(client: WebClient, services: Services, identity: SlackIdentity) -> None:
    """Show the lender their current Home tab; others call this after the lender acts."""
    client.views_publish(user_id=identity.user_id, view=build_home(services, identity))


def register(app: App, services: Services) -> None:
    """Nothing to register: `handlers.events` publishes on `app_home_opened`."""
