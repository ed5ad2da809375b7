"""Finding projects: `/lend browse` with its filters and pages, and `/lend project REF`."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from slack_bolt import App, Respond

from handlers.acks import on_action
from handlers.context import CommandRequest, Reply, Services, Subcommands
from handlers.replies import (
    BROWSE_HINT,
    button_value,
    ids_from,
    problem,
    respond_with,
    unknown_filter,
)
from storage.db.unit_of_work import Refused
from storage.projects import catalogue
from storage.projects.catalogue import BrowseFilters, Flag, UnknownFilter, parse_filters
from storage.projects.references import find_project, unknown_project

PER_PAGE = 5
LAST_PAGE = 10_000
# Slack's limit on a button's value, which carries the filters from page to page.
VALUE_LIMIT = 2_000
NAME_LIMIT = 100
STATE_KEYS = frozenset({"p", "c", "s", "x"})
STALE_BUTTON = "That page button is out of date, so nothing changed."
STALE_HINT = "Type `/lend browse` with your filters to start again."


@dataclass(frozen=True)
class BrowseState:
    """What a Previous or Next button carries: the filters, and the page it opens."""

    filters: BrowseFilters
    page: int

    def to_value(self) -> str:
        state = {
            "p": self.page,
            "c": list(self.filters.countries),
            "s": list(self.filters.sectors),
            "x": sorted(self.filters.flags),
        }
        return json.dumps(state, separators=(",", ":"))

    @classmethod
    def from_value(cls, text: str) -> BrowseState | None:
        """The state a button of ours carries; None for anything else (a forged value, or one
        written by an earlier version of the app)."""
        data = ids_from(text, "p")
        if data is None or set(data) != STATE_KEYS or not 0 <= data["p"] <= LAST_PAGE:
            return None
        countries, sectors, flags = _names(data["c"]), _names(data["s"]), _flags(data["x"])
        if countries is None or sectors is None or flags is None:
            return None
        return cls(BrowseFilters(countries, sectors, flags), data["p"])

    def at(self, page: int) -> BrowseState:
        return replace(self, page=page)


def _names(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    if not all(isinstance(name, str) and 0 < len(name) <= NAME_LIMIT for name in value):
        return None
    return tuple(value)


def _flags(value: object) -> frozenset[Flag] | None:
    known = set(Flag)
    if not isinstance(value, list) or not all(isinstance(f, str) and f in known for f in value):
        return None
    return frozenset(Flag(flag) for flag in value)


def browse_reply(services: Services, state: BrowseState) -> Reply:
    with services.db.reads() as session:
        found = catalogue.browse(
            session, state.filters, services.clock(), page=state.page, per_page=PER_PAGE
        )
    previous = state.at(state.page - 1).to_value() if state.page > 0 else None
    following = state.at(state.page + 1).to_value() if found.has_more else None
    return Reply(
        services.message(
            "browse.json.j2",
            page=found,
            filters=state.filters,
            previous_value=previous,
            next_value=following,
        )
    )


def browse(request: CommandRequest) -> Reply:
    services = request.services
    if not request.args:
        # The busiest page: no filters to match against the open countries and sectors.
        return browse_reply(services, BrowseState(BrowseFilters(), page=0))
    with services.db.reads() as session:
        choices = catalogue.filter_choices(session, services.clock())
    parsed = parse_filters(request.args, choices)
    if isinstance(parsed, UnknownFilter):
        return unknown_filter(services, parsed, choices)
    state = BrowseState(parsed, page=0)
    if len(state.at(LAST_PAGE).to_value()) > VALUE_LIMIT:
        return problem("That is more filters than a page button can hold: name fewer of them.")
    return browse_reply(services, state)


def project(request: CommandRequest) -> Reply:
    services = request.services
    if len(request.args) != 1:
        return problem("Which project? Give its reference, like `/lend project K758103`.")
    with services.db.reads() as session:
        try:
            found = find_project(session, request.args[0])
        except Refused as refused:
            return problem(refused.refusal.message, BROWSE_HINT)
        detail = catalogue.project_detail(session, found.id, services.clock())
    if detail is None:
        return problem(unknown_project(request.args[0]).refusal.message, BROWSE_HINT)
    return Reply(services.message("project.json.j2", detail=detail))


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    subcommands.update({"browse": browse, "project": project})

    @on_action(app, "browse_previous")
    @on_action(app, "browse_next")
    def on_page(body: dict[str, Any], respond: Respond) -> None:
        state = BrowseState.from_value(button_value(body))
        if state is None:
            # Said beside the page clicked, which stays as it was.
            respond_with(respond, problem(STALE_BUTTON, STALE_HINT).message)
            return
        respond_with(respond, browse_reply(services, state).message, replace_original=True)

    @on_action(app, "relend")
    def on_relend(respond: Respond) -> None:
        respond_with(respond, browse_reply(services, BrowseState(BrowseFilters(), 0)).message)
