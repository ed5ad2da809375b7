"""Finding projects: `/lend browse` with its filters and pages, and `/lend project REF`."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, Respond

from handlers.acks import on_action
from handlers.context import CommandRequest, Reply, Services, Subcommands
from handlers.replies import BROWSE_HINT, button_value, ids_from, problem, respond_with
from storage.db.unit_of_work import Refused
from storage.projects import catalogue
from storage.projects.catalogue import BrowseFilters, UnknownFilter, parse_filters
from storage.projects.references import find_project, unknown_project

PER_PAGE = 5


def browse_reply(services: Services, filters: BrowseFilters, page: int) -> Reply:
    with services.db.reads() as session:
        found = catalogue.browse(session, filters, services.clock(), page=page, per_page=PER_PAGE)
    state = {"f": _filter_state(filters), "p": page + 1}
    return Reply(services.message("browse.json.j2", page=found, next_state=state))


def _filter_state(filters: BrowseFilters) -> dict[str, Any]:
    return {key: value for key, value in vars(filters).items() if value}


def browse(request: CommandRequest) -> Reply:
    services = request.services
    if not request.args:
        # The busiest page: no filters to match against the open countries and sectors.
        return browse_reply(services, BrowseFilters(), page=0)
    with services.db.reads() as session:
        choices = catalogue.filter_choices(session, services.clock())
    parsed = parse_filters(request.args, choices)
    if isinstance(parsed, UnknownFilter):
        return Reply(services.message("filter_unknown.json.j2", word=parsed.word, choices=choices))
    return browse_reply(services, parsed, page=0)


def _next_page(services: Services, value: str) -> Reply:
    data = ids_from(value, "p") or {"p": 0}
    state = found if isinstance(found := data.get("f"), dict) else {}
    defaults = vars(BrowseFilters())
    chosen = {k: v for k, v in state.items() if k in defaults and _fits(defaults[k], v)}
    return browse_reply(services, BrowseFilters(**chosen), page=max(0, min(data["p"], 10_000)))


def _fits(default: object, value: object) -> bool:
    """A forged page button may only set a flag to a bool and a name to a short string."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    return isinstance(value, str) and len(value) <= 100


def project(request: CommandRequest) -> Reply:
    services = request.services
    if len(request.args) != 1:
        return problem("Which project? Give its reference, like `/lend project K653051`.")
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

    @on_action(app, "browse_next")
    def on_next(body: dict[str, Any], respond: Respond) -> None:
        reply = _next_page(services, button_value(body))
        respond_with(respond, reply.message, replace_original=True)

    @on_action(app, "relend")
    def on_relend(respond: Respond) -> None:
        respond_with(respond, browse_reply(services, BrowseFilters(), page=0).message)
