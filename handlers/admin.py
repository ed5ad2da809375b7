"""`/lend admin ...`: operator commands, for the user ids in `Services.admins` only.

Authorisation is checked on every call from the signed request's user id, before any
argument is looked at; everyone else gets a polite refusal and nothing changes. The commands
that move money (grant, repay, default) first show their exact effect with Confirm and
Cancel: the effect is the operation's own plan, kept under the Confirm button's intent id
(``storage.db.proposals``), and the Confirm runs the operation keyed by that intent, only if
the person is still an admin and the plan is the one they were shown. A double click, a
replay or a button value changed in any way therefore moves money once or not at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltContext, Respond

from handlers.acks import on_action
from handlers.context import CommandRequest, Reply, Services, Subcommands, identity_of
from handlers.replies import (
    INTENT,
    MENTION,
    button_value,
    ids_from,
    leading_amount,
    new_intent,
    problem,
    respond_with,
)
from handlers.replies import usage as help_reply
from storage.db.proposals import Proposal
from storage.db.unit_of_work import Outcome, Refused
from storage.finance.statistics import programme_stats
from storage.ledger.money import AmountError
from storage.lending.credit import grant_credit, propose_grant
from storage.lending.lenders import SlackIdentity
from storage.projects.impact_updates import post_impact_update
from storage.projects.lifecycle import default_project, propose_default
from storage.projects.references import find_project
from storage.repayments.recording import RepaymentInput, propose_repayment, record_repayment
from templates.render import render_message

# Slack sends a URL in a command's text as `<https://...>` or `<https://...|label>`.
PHOTO = re.compile(r"<?(https?://[^\s<>|]{1,480})(?:\|[^<>]*)?>?")
# A reason or reference rides in the Confirm button's value, which Slack caps at 2,000.
NOTE_LIMIT = 500
STALE = "That button is not valid any more; ask again with `/lend admin`."


def usage(text: str | None = None) -> Reply:
    return help_reply("admin_help.json.j2", text)


def refusal(outcome: Outcome[Any]) -> Reply:
    return problem(outcome.refusal.message if outcome.refusal else "Nothing was changed.")


def done(
    services: Services,
    action: str,
    outcome: Outcome[Any],
    recipient: str | None = None,
    note: str = "",
) -> Reply:
    if not outcome.ok:
        return refusal(outcome)
    context = {"action": action, "result": outcome.value(), "replayed": outcome.replayed}
    return Reply(services.message("admin_done.json.j2", recipient=recipient, note=note, **context))


def project_id(request: CommandRequest, ref: str) -> int | Reply:
    """The project an operator names, or the reply saying why it names none."""
    with request.services.db.reads() as session:
        try:
            return find_project(session, ref).id
        except Refused as refused:
            return problem(refused.refusal.message)


def amount_and_rest(request: CommandRequest, words: list[str]) -> tuple[int, list[str]]:
    return leading_amount(words, request.services.rules.currency)


def fit_note(text: str) -> str:
    """The note cut to what a Confirm button can carry, counted as its value encodes it
    (JSON writes "é" as six characters, an emoji as twelve)."""
    kept, width = [], 0
    for char in text:
        width += len(json.dumps(char)) - 2
        if width > NOTE_LIMIT:
            break
        kept.append(char)
    return "".join(kept)


@dataclass(frozen=True)
class AdminIntent:
    """What a Confirm button carries: the operation and its arguments, checked on the click
    against the plan kept under ``intent``."""

    action: str
    intent: str
    project: int = 0
    amount: int = 0
    user: str = ""
    note: str = ""

    def to_value(self) -> str:
        return json.dumps(
            {
                "o": self.action,
                "i": self.intent,
                "p": self.project,
                "a": self.amount,
                "u": self.user,
                "n": self.note,
            }
        )

    @classmethod
    def from_value(cls, text: str) -> AdminIntent | None:
        data = ids_from(text, "p", "a")
        words = [data.get(key) for key in ("o", "i", "u", "n")] if data else []
        if data is None or not all(isinstance(word, str) for word in words):
            return None
        action, intent, user, note = (str(word) for word in words)
        if action not in CONFIRMED or not INTENT.match(intent):
            return None
        return cls(action, intent, data["p"], data["a"], user, note)

    def proposal(self, identity: SlackIdentity) -> Proposal:
        return Proposal(self.intent, identity.user_id)


def confirmation(request: CommandRequest, asked: AdminIntent, outcome: Outcome[Any]) -> Reply:
    """The plan with Confirm and Cancel, or why the operation cannot be done."""
    if not outcome.ok:
        return refusal(outcome)
    return Reply(
        request.services.message(
            "admin_confirm.json.j2", asked=asked, plan=outcome.value(), value=asked.to_value()
        )
    )


# -- the operator commands --------------------------------------------------------------


def stats(request: CommandRequest) -> Reply:
    result = Outcome(programme_stats(request.services.db.sessions))
    return done(request.services, "stats", result)


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
    return done(request.services, "update", outcome)


def repay(request: CommandRequest) -> Reply:
    if len(request.args) < 3:
        return usage("Say `/lend admin repay REF AMOUNT [REFERENCE]`.")
    cents, rest = amount_and_rest(request, request.args[2:])
    if len(rest) > 1:
        return usage("Say `/lend admin repay REF AMOUNT [REFERENCE]`: one word of reference.")
    project = project_id(request, request.args[1])
    if isinstance(project, Reply):
        return project
    asked = AdminIntent("repay", new_intent(), project, cents, note=fit_note("".join(rest)))
    services = request.services
    outcome = propose_repayment(
        services.db.sessions,
        asked.proposal(request.identity),
        repayment_of(services, asked),
        services.rules,
    )
    return confirmation(request, asked, outcome)


def repayment_of(services: Services, asked: AdminIntent) -> RepaymentInput:
    # Without a partner's reference, the confirmation's intent makes it idempotent.
    return RepaymentInput(
        project_id=asked.project,
        amount=asked.amount,
        paid_on=services.clock().date(),
        reference=asked.note or f"slack:{asked.intent}",
    )


def mark_default(request: CommandRequest) -> Reply:
    if len(request.args) < 2:
        return usage("Say `/lend admin default REF [REASON]`.")
    project = project_id(request, request.args[1])
    if isinstance(project, Reply):
        return project
    reason = fit_note(" ".join(request.args[2:]))
    asked = AdminIntent("default", new_intent(), project, note=reason)
    outcome = propose_default(
        request.services.db.sessions,
        asked.proposal(request.identity),
        project,
        reason=reason,
    )
    return confirmation(request, asked, outcome)


def grant(request: CommandRequest) -> Reply:
    found = MENTION.fullmatch(request.args[1]) if len(request.args) >= 3 else None
    if found is None:
        return usage("Say `/lend admin grant @someone AMOUNT [REASON]`.")
    cents, rest = amount_and_rest(request, request.args[2:])
    reason = fit_note(" ".join(rest)) or f"granted by {request.identity.user_id}"
    asked = AdminIntent("grant", new_intent(), amount=cents, user=found.group(1), note=reason)
    outcome = propose_grant(
        request.services.db.sessions,
        asked.proposal(request.identity),
        grantee(request.identity, asked.user),
        asked.amount,
        reason=reason,
    )
    return confirmation(request, asked, outcome)


def grantee(admin: SlackIdentity, user_id: str) -> SlackIdentity:
    # The grantee is someone of the admin's own organisation, a lender from now on.
    return SlackIdentity(user_id, admin.team_id, admin.enterprise_id)


# -- the Confirm buttons: each runs the operation its confirmation showed --------------------


def confirm_repay(services: Services, admin: SlackIdentity, asked: AdminIntent) -> Reply:
    outcome = record_repayment(
        services.db.sessions,
        repayment_of(services, asked),
        services.rules,
        now=services.clock(),
        proposal=asked.proposal(admin),
    )
    # The operator's own reference, never the one made up from the intent.
    return done(services, "repay", outcome, note=asked.note)


def confirm_default(services: Services, admin: SlackIdentity, asked: AdminIntent) -> Reply:
    outcome = default_project(
        services.db.sessions,
        asked.project,
        reason=asked.note,
        key=f"admin-default:{asked.intent}",
        now=services.clock(),
        proposal=asked.proposal(admin),
    )
    return done(services, "default", outcome)


def confirm_grant(services: Services, admin: SlackIdentity, asked: AdminIntent) -> Reply:
    outcome = grant_credit(
        services.db.sessions,
        grantee(admin, asked.user),
        asked.amount,
        key=f"admin-grant:{asked.intent}",
        reason=asked.note,
        now=services.clock(),
        proposal=asked.proposal(admin),
    )
    return done(services, "grant", outcome, recipient=asked.user)


ACTIONS: dict[str, Callable[[CommandRequest], Reply]] = {
    "stats": stats,
    "update": impact_update,
    "repay": repay,
    "default": mark_default,
    "grant": grant,
}
CONFIRMED: dict[str, Callable[[Services, SlackIdentity, AdminIntent], Reply]] = {
    "repay": confirm_repay,
    "default": confirm_default,
    "grant": confirm_grant,
}


def refused() -> Reply:
    return Reply(render_message("admin_refused.json.j2"))


def admin(request: CommandRequest) -> Reply:
    if not request.services.is_admin(request.identity.user_id):
        return refused()
    if not request.args:
        return usage()
    action = ACTIONS.get(request.args[0].lower())
    if action is None:
        return usage(f"“{request.args[0][:40]}” is not an operator command.")
    try:
        return action(request)
    except AmountError as error:
        return problem(f"The amount: {error}.")


def confirmed(services: Services, admin: SlackIdentity, value: str) -> Reply:
    """An admin's Confirm: re-authorised now, and the operation re-checks the rest."""
    if not services.is_admin(admin.user_id):
        return refused()
    asked = AdminIntent.from_value(value)
    if asked is None:
        return problem(STALE)
    return CONFIRMED[asked.action](services, admin, asked)


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    subcommands["admin"] = admin

    @on_action(app, "admin_confirm")
    def on_admin_confirmed(body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
        reply = confirmed(services, identity_of(context, body), button_value(body))
        respond_with(respond, reply.message, replace_original=True)

    @on_action(app, "admin_cancel")
    def on_admin_cancelled(respond: Respond) -> None:
        cancelled = services.message("admin_cancelled.json.j2")
        respond_with(respond, cancelled, replace_original=True)
