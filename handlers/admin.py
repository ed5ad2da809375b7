"""`/lend admin ...`: operator commands, for the user ids in `Services.admins` only.

Authorisation is checked on every call from the signed request's user id, before any
argument is looked at; everyone else gets a polite refusal and nothing changes. Idempotency
keys come from the command's `trigger_id`, which Slack issues once per invocation, so a
replayed request changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt import App

from handlers.context import CommandRequest, Reply, Services, Subcommands
from handlers.replies import MENTION, problem
from handlers.replies import usage as help_reply
from storage.db.unit_of_work import Outcome, Refused
from storage.finance.statistics import programme_stats
from storage.ledger.money import AmountError, parse_amount
from storage.lending.credit import grant_credit
from storage.lending.lenders import SlackIdentity
from storage.projects.impact_updates import post_impact_update
from storage.projects.lifecycle import default_project
from storage.projects.references import find_project
from storage.repayments.recording import RepaymentInput, record_repayment
from templates.render import render_message

# Slack sends a URL in a command's text as `<https://...>` or `<https://...|label>`.
PHOTO = re.compile(r"<?(https?://[^\s<>|]{1,480})(?:\|[^<>]*)?>?")


def usage(text: str | None = None) -> Reply:
    return help_reply("admin_help.json.j2", text)


def done(request: CommandRequest, action: str, result: object, *, replayed: bool = False) -> Reply:
    context = {
        "action": action,
        "result": result,
        "replayed": replayed,
        "currency": request.services.rules.currency,
    }
    return Reply(render_message("admin_done.json.j2", **context))


def answer(request: CommandRequest, action: str, outcome: Outcome[Any]) -> Reply:
    if not outcome.ok:
        return problem(outcome.refusal.message if outcome.refusal else "Nothing was changed.")
    return done(request, action, outcome.value(), replayed=outcome.replayed)


def project_id(request: CommandRequest, ref: str) -> int | Reply:
    """The project an operator names, or the reply saying why it names none."""
    with request.services.db.reads() as session:
        try:
            return find_project(session, ref).id
        except Refused as refused:
            return problem(refused.refusal.message)


def amount(request: CommandRequest, text: str) -> int:
    return parse_amount(text, currency=request.services.rules.currency)


# -- the operator commands --------------------------------------------------------------


def stats(request: CommandRequest) -> Reply:
    return done(request, "stats", programme_stats(request.services.db.sessions))


def impact_update(request: CommandRequest) -> Reply:
    words = request.args[1:]
    photo: str | None = None
    if len(words) >= 3 and words[-2].lower() == "photo":
        found = PHOTO.fullmatch(words[-1])
        if found is None:
            return usage("The photo must be an http(s) URL: `photo https://...`.")
        photo, words = found.group(1), words[:-2]
    if len(words) < 2:
        return usage("Say which project and what happened: `/lend admin update REF TEXT`.")
    project = project_id(request, words[0])
    if isinstance(project, Reply):
        return project
    outcome = post_impact_update(
        request.services.db.sessions,
        project,
        " ".join(words[1:]),
        photo_url=photo,
        posted_by=request.identity.user_id,
        now=request.services.clock(),
    )
    return answer(request, "update", outcome)


def repay(request: CommandRequest) -> Reply:
    if len(request.args) not in (3, 4):
        return usage("Say `/lend admin repay REF AMOUNT [REFERENCE]`.")
    project = project_id(request, request.args[1])
    if isinstance(project, Reply):
        return project
    reference = request.args[3] if len(request.args) == 4 else f"slack:{request.trigger_id}"
    item = RepaymentInput(
        project_id=project,
        amount=amount(request, request.args[2]),
        paid_on=request.services.clock().date(),
        reference=reference[:200],
    )
    outcome = record_repayment(
        request.services.db.sessions, item, request.services.rules, now=request.services.clock()
    )
    return answer(request, "repay", outcome)


def mark_default(request: CommandRequest) -> Reply:
    if len(request.args) < 2:
        return usage("Say `/lend admin default REF [REASON]`.")
    project = project_id(request, request.args[1])
    if isinstance(project, Reply):
        return project
    outcome = default_project(
        request.services.db.sessions,
        project,
        reason=" ".join(request.args[2:]),
        key=f"admin-default:{request.trigger_id}",
        now=request.services.clock(),
    )
    return answer(request, "default", outcome)


def grant(request: CommandRequest) -> Reply:
    found = MENTION.fullmatch(request.args[1]) if len(request.args) >= 3 else None
    if found is None:
        return usage("Say `/lend admin grant @someone AMOUNT [REASON]`.")
    # The grantee is someone of the admin's own organisation, a lender from now on.
    grantee = SlackIdentity(
        found.group(1), request.identity.team_id, request.identity.enterprise_id
    )
    outcome = grant_credit(
        request.services.db.sessions,
        grantee,
        amount(request, request.args[2]),
        key=f"admin-grant:{request.trigger_id}",
        reason=" ".join(request.args[3:]) or f"granted by {request.identity.user_id}",
        now=request.services.clock(),
    )
    return answer(request, "grant", outcome)


ACTIONS: dict[str, Callable[[CommandRequest], Reply]] = {
    "stats": stats,
    "update": impact_update,
    "repay": repay,
    "default": mark_default,
    "grant": grant,
}


def admin(request: CommandRequest) -> Reply:
    if not request.services.is_admin(request.identity.user_id):
        return Reply(render_message("admin_refused.json.j2"))
    action = ACTIONS.get(request.args[0].lower()) if request.args else None
    if action is None:
        return usage()
    try:
        return action(request)
    except AmountError as error:
        return problem(f"The amount: {error}.")


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    """Operator commands are slash commands only: no buttons, modals or events to listen to."""
    subcommands["admin"] = admin
