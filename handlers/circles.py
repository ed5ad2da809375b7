"""`/lend circle ...` and `/lend circles`: lending circles in channels, their buttons and events.

Thin on purpose: parse the words, call one `storage.circles` operation (which checks the
organisation, membership and lead), render one template. The Join button's value names a
circle id only; the operation looks it up within the clicker's own organisation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from handlers.acks import on_action, on_event
from handlers.context import CommandRequest, Reply, Services, Subcommands, identity_of
from handlers.replies import (
    INTENT,
    MENTION,
    button_value,
    ids_from,
    new_intent,
    problem,
    respond_with,
)
from handlers.replies import usage as help_reply
from storage.circles import membership, statistics
from storage.circles.membership import JoinProof
from storage.db.unit_of_work import Outcome, Refusal
from storage.ledger.money import AmountError, parse_amount
from storage.lending.lenders import SlackIdentity


def usage(text: str | None = None) -> Reply:
    return help_reply("circle_help.json.j2", text)


def refused(refusal: Refusal | None) -> Reply:
    return problem(refusal.message if refusal else "That did not work; nothing was changed.")


def done(request: CommandRequest, outcome: str, name: str, user_id: str | None = None) -> Reply:
    return Reply(
        request.services.message("circle_done.json.j2", outcome=outcome, name=name, user_id=user_id)
    )


# -- /lend circle WORD ... -------------------------------------------------------------


def show(request: CommandRequest) -> Reply:
    outcome = statistics.circle_stats(
        request.services.db.sessions, request.identity, request.channel_id
    )
    if not outcome.ok:
        return refused(outcome.refusal)
    return Reply(request.services.message("circle_stats.json.j2", stats=outcome.value()))


def create(request: CommandRequest) -> Reply:
    if request.channel_id.startswith("D"):
        return problem(
            "Run `/lend circle create NAME` in the channel that should become the circle."
        )
    words = request.args[1:]
    goal: int | None = None
    if len(words) >= 2 and words[-2].lower() == "goal":
        try:
            goal = parse_amount(words[-1], currency=request.services.rules.currency)
        except AmountError as error:
            return problem(f"The goal: {error}.")
        words = words[:-2]
    outcome = membership.create_circle(
        request.services.db.sessions,
        request.identity,
        request.channel_id,
        " ".join(words),
        goal,
        now=request.services.clock(),
    )
    if not outcome.ok:
        return refused(outcome.refusal)
    card = request.services.message("circle_card.json.j2", circle=outcome.value(), kind="created")
    return Reply(card, in_channel=True)


def join(request: CommandRequest) -> Reply:
    return membership_reply(
        request.services,
        membership.join_circle(
            request.services.db.sessions,
            request.identity,
            channel_id=request.channel_id,
            now=request.services.clock(),
        ),
    )


def membership_reply(services: Services, outcome: Outcome[membership.Membership]) -> Reply:
    if not outcome.ok:
        return refused(outcome.refusal)
    result = outcome.value()
    word = "joined" if result.changed else "already_member"
    return Reply(services.message("circle_done.json.j2", outcome=word, name=result.circle.name))


def leave(request: CommandRequest) -> Reply:
    """A member leaves at once; the lead is asked first, with what leaving would do."""
    outcome = membership.leave_circle(
        request.services.db.sessions,
        request.identity,
        channel_id=request.channel_id,
        now=request.services.clock(),
    )
    return departure_reply(request.services, outcome)


def departure_reply(services: Services, outcome: Outcome[membership.Departure]) -> Reply:
    if not outcome.ok:
        return refused(outcome.refusal)
    result = outcome.value()
    if result.needs_confirmation:
        return Reply(
            services.message("circle_leave_confirm.json.j2", departure=result, intent=new_intent())
        )
    return Reply(
        services.message(
            "circle_done.json.j2",
            outcome=_departed(result),
            name=result.name,
            user_id=result.successor_user_id,
        )
    )


def _departed(result: membership.Departure) -> str:
    if not result.changed:
        return "not_member"
    if not result.was_lead:
        return "left"
    return "handed_over" if result.successor_user_id else "closed"


def invite(request: CommandRequest) -> Reply:
    found = MENTION.fullmatch(request.args[1]) if len(request.args) == 2 else None
    if found is None:
        return usage("Name one person to invite: `/lend circle invite @someone`.")
    invitee = found.group(1)
    outcome = membership.invite_to_circle(
        request.services.db.sessions,
        request.identity,
        request.channel_id,
        invitee,
        now=request.services.clock(),
    )
    if not outcome.ok:
        return refused(outcome.refusal)
    invitation = outcome.value()
    if invitation.already_member:
        return done(request, "invitee_member", invitation.circle.name, invitee)
    said = "already_invited" if invitation.already_invited else "invited"
    return done(request, said, invitation.circle.name, invitee)


def feature(request: CommandRequest) -> Reply:
    if len(request.args) != 2:
        return usage("Name one project: `/lend circle feature REF`.")
    outcome = membership.feature_project(
        request.services.db.sessions,
        request.identity,
        request.channel_id,
        request.args[1],
        now=request.services.clock(),
    )
    if not outcome.ok:
        return refused(outcome.refusal)
    post = request.services.message("circle_feature.json.j2", project=outcome.value())
    return Reply(post, in_channel=True)


def summary(request: CommandRequest) -> Reply:
    choice = request.args[1].lower() if len(request.args) == 2 else ""
    if choice not in ("on", "off"):
        return usage("Say `/lend circle summary on` or `/lend circle summary off`.")
    outcome = membership.set_weekly_summary(
        request.services.db.sessions, request.identity, request.channel_id, choice == "on"
    )
    if not outcome.ok:
        return refused(outcome.refusal)
    return done(request, f"summary_{choice}", outcome.value().name)


ACTIONS: dict[str, Callable[[CommandRequest], Reply]] = {
    "create": create,
    "join": join,
    "leave": leave,
    "invite": invite,
    "feature": feature,
    "summary": summary,
    "help": lambda _request: usage(),
}


def circle(request: CommandRequest) -> Reply:
    if not request.args:
        return show(request)
    action = ACTIONS.get(request.args[0].lower())
    if action is None:
        return usage(f"`{request.args[0][:30]}` is not a circle command.")
    return action(request)


def leaderboard(request: CommandRequest) -> Reply:
    board = statistics.leaderboard(
        request.services.db.sessions, request.identity.org_key, now=request.services.clock()
    )
    return Reply(request.services.message("circle_leaderboard.json.j2", board=board))


# -- the buttons: Join, and the lead's Leave confirmation --------------------------------------


def leave_from_button(services: Services, identity: SlackIdentity, body: dict[str, Any]) -> Reply:
    """The lead's Confirm: its intent keys the leave, so a second click changes nothing."""
    data = ids_from(button_value(body), "circle")
    intent = str(data.get("i")) if data else ""
    successor = data.get("s", "") if data else ""
    if data is None or not INTENT.match(intent) or not isinstance(successor, str):
        return problem("That button is not valid any more; try `/lend circle leave` again.")
    outcome = membership.leave_circle(
        services.db.sessions,
        identity,
        circle_id=data["circle"],
        confirmation=intent,
        successor_shown=successor or None,
        now=services.clock(),
    )
    return departure_reply(services, outcome)


def join_from_button(
    services: Services, client: WebClient, identity: SlackIdentity, body: dict[str, Any]
) -> Reply:
    """The Join button of a circle's card or welcome (in its channel), or of an invitation."""
    data = ids_from(button_value(body), "circle")
    if data is None:
        return problem("That button is not valid any more; try `/lend circle join` in the channel.")
    found = membership.circle_by_id(services.db.sessions, identity.org_key, data["circle"])
    if found is None:
        return problem("That is not a lending circle of this workspace (the button may be old).")
    clicked_in = str((body.get("channel") or {}).get("id") or "")
    in_channel = clicked_in == found.channel_id or _channel_member(
        client, found.channel_id, identity.user_id
    )
    outcome = membership.join_circle(
        services.db.sessions,
        identity,
        circle_id=found.circle_id,
        proof=JoinProof.IN_CHANNEL if in_channel else JoinProof.INVITED,
        now=services.clock(),
    )
    return membership_reply(services, outcome)


def _channel_member(client: WebClient, channel_id: str, user_id: str) -> bool:
    """Whether Slack lists the person among the channel's members (page by page)."""
    cursor: str | None = None
    while True:
        try:
            page = client.conversations_members(channel=channel_id, limit=200, cursor=cursor)
        except SlackApiError:
            # The app left the channel, or it is gone: nobody can be shown to be in it.
            return False
        if user_id in (page.get("members") or []):
            return True
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            return False


def welcome(
    services: Services, client: WebClient, identity: SlackIdentity, channel_id: str, bot_user: str
) -> None:
    """Someone joined a circle's channel: show them (and only them) the Join button."""
    user_id = identity.user_id
    if not user_id or user_id == bot_user:
        return
    found = membership.circle_in_channel(services.db.sessions, identity.org_key, channel_id)
    if found is None:
        return
    card = services.message("circle_card.json.j2", circle=found, kind="welcome")
    client.chat_postEphemeral(channel=channel_id, user=user_id, text=card.text, blocks=card.blocks)


def register(app: App, services: Services, subcommands: Subcommands) -> None:
    subcommands.update({"circle": circle, "circles": leaderboard})

    @on_action(app, "circle_join")
    def on_join(
        body: dict[str, Any], context: BoltContext, respond: Respond, client: WebClient
    ) -> None:
        reply = join_from_button(services, client, identity_of(context, body), body)
        respond(
            text=reply.message.text,
            blocks=reply.message.blocks,
            response_type="ephemeral",
            replace_original=False,
        )

    @on_action(app, "circle_leave_confirm")
    def on_leave_confirmed(body: dict[str, Any], context: BoltContext, respond: Respond) -> None:
        reply = leave_from_button(services, identity_of(context, body), body)
        respond_with(respond, reply.message, replace_original=True)

    @on_action(app, "circle_leave_cancel")
    def on_leave_cancelled(respond: Respond) -> None:
        stayed = services.message("circle_done.json.j2", outcome="stayed", name="", user_id=None)
        respond_with(respond, stayed, replace_original=True)

    @on_event(app, "member_joined_channel")
    def on_member_joined(
        event: dict[str, Any], body: dict[str, Any], context: BoltContext, client: WebClient
    ) -> None:
        channel_id = str(event.get("channel", ""))
        identity = identity_of(context, body)
        welcome(services, client, identity, channel_id, str(context.bot_user_id or ""))
