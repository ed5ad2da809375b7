"""What the app holds about a person: the export, the erasure, and the retention of messages.

An erasure keeps every money record accounting must keep (pledges, postings, payout requests)
under the same lender row, so no total moves: what goes is who they were. Their name, time
zone, locale and preferences are reset; their Slack id becomes a pseudonym wherever it is
written (the lender row, idempotency keys, outbox payloads, an impact update they posted);
their invitations, memberships and unfinished requests are removed. Circles keep their names:
a circle's name belongs to the circle and its members, not to the lead who typed it. Should
they come back, Slack's id finds no lender, so they start as a new one.

The outbox holds no rendered texts: a message is worked out from its facts when it is sent.
Its payload fields that name a person (``PERSON_FIELDS``) and its last error are what is purged,
for the erased person's messages at once and for everyone's sent messages after the
retention period.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Enum,
    Select,
    String,
    Table,
    Text,
    bindparam,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from storage.circles.membership import Departure, leave_circle
from storage.circles.models import Circle, CircleInvitation, CircleMember
from storage.db.clock import utcnow
from storage.db.models import AcceptedWork
from storage.db.schema import METADATA
from storage.db.unit_of_work import transaction
from storage.installations.models import Workspace
from storage.ledger.models import Account, LedgerTransaction, Posting
from storage.lending.credit import withdraw
from storage.lending.lenders import SlackIdentity
from storage.lending.models import (
    Lender,
    LenderMonth,
    NotifyMode,
    PayoutRequest,
    PendingLookup,
    Pledge,
)
from storage.lending.portfolio import balances
from storage.notifications.kinds import Kind
from storage.notifications.models import Notification, NotificationStatus
from storage.projects.models import Project

# A pseudonym has the shape of a Slack user id, which no real one has (Slack's are 9 to 11
# characters): every query and template that expects an id keeps working on the money records
# (a circle's pledge posts, its former lead, a payout line), and Slack shows a mention of it
# as an unknown user, pinging nobody.
PSEUDONYM_PREFIX = "UERASED"
# Outbox payload fields that carry a person's Slack id: the inviter of an invitation, the lead
# who handed a circle on. The other fields are facts (amounts, ids, dates) that stay.
PERSON_FIELDS = ("inviter", "former_lead")
PERSONAL_KINDS = (Kind.INVITE, Kind.NEW_LEAD)
DEFAULT_RETENTION_DAYS = 400
# Rows read or rewritten per statement: memory stays flat however much a person has.
CHUNK = 500
# A lead's leave is refused when the circle changed since it was asked: ask again, a few times.
LEAVE_ATTEMPTS = 3
SKIPPED_ERASED = "not sent: the person's data was erased"


def is_pseudonym(user_id: str) -> bool:
    return user_id.startswith(PSEUDONYM_PREFIX)


def find_person(session: Session, org_key: str, user_id: str) -> Lender | None:
    """The lender known by this Slack id (or pseudonym) in the organisation, if any."""
    return session.execute(
        select(Lender)
        .join(Workspace, Workspace.id == Lender.workspace_id)
        .where(Workspace.org_key == org_key, Lender.slack_user_id == user_id)
    ).scalar_one_or_none()


# --- the export ---------------------------------------------------------------------------------


def export_person(session: Session, lender_id: int) -> Iterator[str]:
    """Everything held about a lender, as one JSON document written piece by piece: each
    section is one query whose rows are streamed, never all held at once."""
    yield "{"
    for number, (name, query) in enumerate(_sections(lender_id)):
        yield f"{',' if number else ''}\n  {json.dumps(name)}: "
        if name == "profile":
            row = session.execute(query).mappings().one()
            yield _json(row)
            continue
        yield "["
        rows = session.execute(query.execution_options(yield_per=CHUNK)).mappings()
        for index, row in enumerate(rows):
            yield f"{',' if index else ''}\n    {_json(row)}"
        yield "\n  ]"
    yield "\n}\n"


def _sections(lender_id: int) -> list[tuple[str, Select[Any]]]:
    lenders: Table = Lender.__table__  # type: ignore[assignment]
    inviter = select(Lender.slack_user_id).where(Lender.id == CircleInvitation.inviter_id)
    invitee = select(Lender.slack_user_id).where(Lender.id == CircleInvitation.invitee_id)
    circle_columns = (Circle.id.label("circle_id"), Circle.name, Circle.channel_id)
    return [
        (
            "profile",
            select(*lenders.c, Workspace.org_key)
            .join(Workspace, Workspace.id == Lender.workspace_id)
            .where(Lender.id == lender_id),
        ),
        (
            "circle_memberships",
            select(
                *circle_columns,
                CircleMember.joined_at,
                (Circle.lead_id == lender_id).label("leads"),
            )
            .join(CircleMember, CircleMember.circle_id == Circle.id)
            .where(CircleMember.lender_id == lender_id)
            .order_by(Circle.id),
        ),
        (
            "circles_led",
            select(*circle_columns, Circle.goal, Circle.weekly_summary, Circle.created_at)
            .where(Circle.lead_id == lender_id)
            .order_by(Circle.id),
        ),
        (
            "invitations",
            select(
                *circle_columns,
                inviter.scalar_subquery().label("inviter"),
                invitee.scalar_subquery().label("invitee"),
                CircleInvitation.invited_at,
            )
            .join(CircleInvitation, CircleInvitation.circle_id == Circle.id)
            .where(
                or_(
                    CircleInvitation.invitee_id == lender_id,
                    CircleInvitation.inviter_id == lender_id,
                )
            )
            .order_by(Circle.id, CircleInvitation.invited_at),
        ),
        (
            "pledges",
            select(
                Pledge.id,
                Project.reference.label("project"),
                Pledge.circle_id,
                Pledge.amount,
                Pledge.from_credit,
                Pledge.from_payroll,
                Pledge.repaid,
                Pledge.is_relend,
                Pledge.refunded,
                Pledge.created_at,
            )
            .join(Project, Project.id == Pledge.project_id)
            .where(Pledge.lender_id == lender_id)
            .order_by(Pledge.id),
        ),
        (
            "ledger_lines",
            select(
                Posting.id,
                Posting.transaction_id,
                Account.kind.label("account"),
                Posting.amount,
                Posting.pledge_id,
                LedgerTransaction.kind.label("transaction_kind"),
                LedgerTransaction.created_at.label("date"),
            )
            .join(Account, Account.id == Posting.account_id)
            .join(LedgerTransaction, LedgerTransaction.id == Posting.transaction_id)
            .where(Account.lender_id == lender_id)
            .order_by(Posting.id),
        ),
        (
            "monthly_new_money",
            select(LenderMonth.month, LenderMonth.new_money)
            .where(LenderMonth.lender_id == lender_id)
            .order_by(LenderMonth.month),
        ),
        (
            "payout_requests",
            select(
                PayoutRequest.id,
                PayoutRequest.amount,
                PayoutRequest.created_at,
                PayoutRequest.export_id,
            )
            .where(PayoutRequest.lender_id == lender_id)
            .order_by(PayoutRequest.id),
        ),
        (
            "notifications",
            select(
                Notification.id,
                Notification.kind,
                Notification.status,
                Notification.channel_id,
                Notification.project_id,
                Notification.circle_id,
                Notification.payload,
                Notification.created_at,
                Notification.due_at,
                Notification.sent_at,
                Notification.attempts,
                Notification.last_error,
            )
            .where(Notification.lender_id == lender_id)
            .order_by(Notification.id),
        ),
    ]


def _json(row: Mapping[Any, Any]) -> str:
    return json.dumps(dict(row), default=_plain, ensure_ascii=False, sort_keys=False)


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# --- the erasure --------------------------------------------------------------------------------


# An erased profile: nothing of the person, nothing sent to them, and (where the directory
# keeps it) marked as gone, so that later repayments are paid out as a leaver's are.
ERASED_PROFILE: Mapping[str, object] = {
    "display_name": "",
    "real_name": None,
    "tz": "UTC",
    "locale": None,
    "notify_mode": NotifyMode.OFF,
    "work_start_minute": 9 * 60,
    "work_end_minute": 18 * 60,
    "work_days": 0b0011111,
    "autolend": False,
    "autolend_country": None,
    "autolend_sector": None,
    "deactivated": True,
}


@dataclass(frozen=True)
class Erasure:
    """What erasing a person did; ``already`` when they had been erased before (no-op)."""

    lender_id: int
    pseudonym: str
    already: bool = False
    # Their available credit, now a payout request (0: there was none).
    paid_out: int = 0
    circles_handed_on: int = 0
    circles_closed: int = 0
    circles_left: int = 0


def erase_person(
    factory: sessionmaker[Session], lender_id: int, *, currency: str, now: datetime | None = None
) -> Erasure:
    """Erase a lender. Each step is its own transaction and safe to run again, so an erasure
    cut off half-way is finished by running it again: the credit is paid out and the circles
    left while the Slack id still names them, then everything personal goes at once."""
    moment = now or utcnow()
    with factory() as session:
        lender = session.get_one(Lender, lender_id)
        if is_pseudonym(lender.slack_user_id):
            return Erasure(lender_id, lender.slack_user_id, already=True)
        identity = SlackIdentity(lender.slack_user_id, lender.team_id, lender.enterprise_id)
    paid_out = _pay_out(factory, lender_id, currency, moment)
    departures = _leave_circles(factory, identity, lender_id, moment)
    pseudonym = f"{PSEUDONYM_PREFIX}{secrets.token_hex(8).upper()}"
    with transaction(factory) as session:
        _forget(session, lender_id, identity.user_id, pseudonym)
    return Erasure(
        lender_id,
        pseudonym,
        paid_out=paid_out,
        circles_handed_on=sum(1 for d in departures if d.successor_user_id),
        circles_closed=sum(1 for d in departures if d.was_lead and not d.successor_user_id),
        circles_left=len(departures),
    )


def _pay_out(factory: sessionmaker[Session], lender_id: int, currency: str, now: datetime) -> int:
    """Their available credit as a payout request, as a withdrawal of all of it does."""
    with factory() as session:
        available = balances(session, lender_id).available
        requests = session.execute(
            select(func.count()).where(PayoutRequest.lender_id == lender_id)
        ).scalar_one()
    if available <= 0:
        return 0
    # Keyed by the requests made so far: a rerun after more credit came in pays that out too.
    key = f"privacy-erase:{lender_id}:{requests}"
    outcome = withdraw(factory, lender_id, available, key=key, currency=currency, now=now)
    return 0 if outcome.result is None else outcome.result.amount


def _leave_circles(
    factory: sessionmaker[Session], identity: SlackIdentity, lender_id: int, now: datetime
) -> list[Departure]:
    """Leave every circle as the lead's own leave does: a circle passes to its longest-standing
    member, who is told, or closes when nobody is left."""
    with factory() as session:
        circle_ids = (
            session.execute(
                select(CircleMember.circle_id).where(CircleMember.lender_id == lender_id)
            )
            .scalars()
            .all()
        )
    departures = [_leave(factory, identity, circle_id, now) for circle_id in circle_ids]
    return [departure for departure in departures if departure is not None and departure.changed]


def _leave(
    factory: sessionmaker[Session], identity: SlackIdentity, circle_id: int, now: datetime
) -> Departure | None:
    """Leave one circle; a lead is asked first, as in Slack, and confirms the successor that
    answer named (asked again if someone joined or left in between)."""
    for attempt in range(LEAVE_ATTEMPTS):
        asked = leave_circle(factory, identity, circle_id=circle_id, now=now).result
        if asked is None or not asked.needs_confirmation:
            return asked
        left = leave_circle(
            factory,
            identity,
            circle_id=circle_id,
            confirmation=f"privacy-erase-{circle_id}-{attempt}",
            successor_shown=asked.successor_user_id,
            now=now,
        ).result
        if left is not None:
            return left
    return None


def _forget(session: Session, lender_id: int, user_id: str, pseudonym: str) -> None:
    lenders: Table = Lender.__table__  # type: ignore[assignment]
    erased = {name: value for name, value in ERASED_PROFILE.items() if name in lenders.c}
    session.execute(
        update(Lender).where(Lender.id == lender_id).values(slack_user_id=pseudonym, **erased)
    )
    session.execute(delete(CircleInvitation).where(CircleInvitation.invitee_id == lender_id))
    # A directory lookup still waiting for them: there is nobody to look up any more.
    session.execute(delete(PendingLookup).where(PendingLookup.slack_user_id == user_id))
    # Requests of theirs still being worked on carry what they typed and their name.
    session.execute(
        delete(AcceptedWork).where(
            _json_text(AcceptedWork.payload).contains(json.dumps(user_id), autoescape=True)
        )
    )
    _purge(session, Notification.lender_id == lender_id)
    session.execute(
        update(Notification)
        .where(
            Notification.lender_id == lender_id, Notification.status == NotificationStatus.PENDING
        )
        .values(status=NotificationStatus.SKIPPED, last_error=SKIPPED_ERASED)
    )
    for table in METADATA.sorted_tables:
        if table is not lenders:
            _pseudonymise(session, table, user_id, pseudonym)


def _pseudonymise(session: Session, table: Table, user_id: str, pseudonym: str) -> None:
    """The Slack id replaced wherever a column names it: a whole value, a part of a key
    between colons (``pledge:T1:U0ANA:…``), or a string inside JSON."""
    for column in table.columns:
        if isinstance(column.type, JSON):
            found, replaced = _json_text(column), (json.dumps(user_id), json.dumps(pseudonym))
            new_value = _as_json(session, func.replace(found, *replaced))
        elif isinstance(column.type, String | Text) and not isinstance(column.type, Enum):
            found, replaced = _delimited(column), (f":{user_id}:", f":{pseudonym}:")
            new_value = _undelimited(func.replace(found, *replaced))
        else:
            continue
        session.execute(
            update(table)
            .where(found.contains(replaced[0], autoescape=True))
            .values({column.name: new_value})
        )


def _delimited(column: Column[Any]) -> ColumnElement[str]:
    return literal(":") + cast(column, Text) + literal(":")


def _undelimited(value: ColumnElement[str]) -> ColumnElement[str]:
    return func.substr(value, 2, func.length(value) - 2)


def _json_text(column: Any) -> ColumnElement[str]:
    return cast(column, Text)


def _as_json(session: Session, value: ColumnElement[str]) -> ColumnElement[Any]:
    # PostgreSQL takes JSON only from JSON; SQLite keeps JSON as text, and a CAST to its
    # type name "JSON" would read it as a number.
    if session.get_bind().dialect.name == "postgresql":
        return cast(value, JSON)
    return value


# --- retention ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purge:
    notifications: int


def purge_sent_texts(
    factory: sessionmaker[Session],
    *,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    now: datetime | None = None,
) -> Purge:
    """Who was named in messages sent more than ``retention_days`` ago, and their errors, are
    purged a chunk per transaction; what the messages were about stays. Running it again
    finds nothing left to purge."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    sent_before = (Notification.status == NotificationStatus.SENT) & (Notification.sent_at < cutoff)
    purged = 0
    while True:
        with transaction(factory) as session:
            done = _purge(session, sent_before, limit=CHUNK)
        purged += done
        if done < CHUNK:
            return Purge(purged)


def _purge(session: Session, which: ColumnElement[bool], *, limit: int | None = None) -> int:
    """Remove ``PERSON_FIELDS`` and the last error from the notifications ``which`` selects
    that still have them; return how many were rewritten."""
    mentions = or_(
        *(
            _json_text(Notification.payload).contains(json.dumps(f), autoescape=True)
            for f in PERSON_FIELDS
        )
    )
    rows = session.execute(
        select(Notification.id, Notification.payload)
        .where(
            which,
            or_(
                Notification.kind.in_(PERSONAL_KINDS) & mentions,
                Notification.last_error.is_not(None),
            ),
        )
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    if rows:
        session.execute(
            update(Notification)
            .where(Notification.id == bindparam("row_id"))
            .values(payload=bindparam("new_payload", type_=JSON), last_error=None),
            [{"row_id": row.id, "new_payload": _without_people(row.payload)} for row in rows],
            execution_options={"dml_strategy": "core_only"},
        )
    return len(rows)


def _without_people(payload: Mapping[str, object]) -> dict[str, object]:
    return {key: value for key, value in payload.items() if key not in PERSON_FIELDS}


def text_columns(tables: Iterable[Table] | None = None) -> Iterator[Column[Any]]:
    """Every column that can hold text: what an erasure must leave clean."""
    for table in tables or METADATA.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String | Text | JSON):
                yield column
