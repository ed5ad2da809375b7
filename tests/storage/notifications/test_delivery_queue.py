"""Claims, leases and settlements of the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.database import Database
from storage.notifications import delivery_queue, outbox
from storage.notifications.delivery_queue import Claimed, OutboxView
from storage.notifications.kinds import Kind
from storage.notifications.models import Notification
from tests.factories import make_lender

NOW = datetime(2026, 1, 7, 10, 0)
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 3


def queue(db: Database, lender_id: int, key: str, *, at: datetime = NOW) -> None:
    with db.sessions() as session, session.begin():
        enqueue(session, lender_id, key, at)


def enqueue(session: Session, lender_id: int, key: str, at: datetime) -> None:
    outbox.enqueue(
        session, dedupe_key=key, kind=Kind.FUNDED, payload={}, now=at, lender_id=lender_id
    )


def fail(db: Database, row: Claimed, *, error: str, retry_at: datetime) -> int:
    """A failed attempt at ``row``, settled under the lease it was claimed with."""
    return delivery_queue.fail(
        db.sessions,
        [row.id],
        lease_until=row.lease_until,
        error=error,
        retry_at=retry_at,
        max_attempts=MAX_ATTEMPTS,
    )


def mark_sent(db: Database, row: Claimed, *, at: datetime) -> int:
    return delivery_queue.mark_sent(db.sessions, [row.id], lease_until=row.lease_until, now=at)


def test_a_claim_takes_every_due_row_of_the_lenders_it_reaches(db: Database) -> None:
    first, second = make_lender(db), make_lender(db)
    for key in ("a", "b", "c"):
        queue(db, first, f"first:{key}")
    queue(db, second, "second:a")
    queue(db, second, "second:later", at=NOW + timedelta(hours=1))

    claimed = delivery_queue.claim_due(db.sessions, now=NOW, lease=LEASE, limit=1)

    assert [row.lender_id for row in claimed] == [first] * 3
    assert (
        delivery_queue.claim_due(db.sessions, now=NOW, lease=LEASE, limit=10)[0].lender_id == second
    )
    assert delivery_queue.claim_due(db.sessions, now=NOW, lease=LEASE, limit=10) == []


def test_a_lease_expires_and_the_row_is_claimed_again(db: Database) -> None:
    queue(db, make_lender(db), "k")
    [row] = delivery_queue.claim_due(db.sessions, now=NOW, lease=LEASE, limit=10)
    assert delivery_queue.claim_due(db.sessions, now=NOW + LEASE, lease=LEASE, limit=10) == []
    later = NOW + LEASE + timedelta(seconds=1)
    assert [
        r.id for r in delivery_queue.claim_due(db.sessions, now=later, lease=LEASE, limit=9)
    ] == [row.id]


def test_a_worker_settling_after_its_lease_leaves_the_next_claim_alone(db: Database) -> None:
    queue(db, make_lender(db), "k")
    [late] = delivery_queue.claim_due(db.sessions, now=NOW, lease=LEASE, limit=1)
    later = NOW + LEASE + timedelta(seconds=1)
    [current] = delivery_queue.claim_due(db.sessions, now=later, lease=LEASE, limit=1)

    settled = fail(db, late, error="timed out", retry_at=later)

    assert settled == 0
    assert delivery_queue.claim_due(db.sessions, now=later, lease=LEASE, limit=1) == []
    assert mark_sent(db, current, at=later) == 1
    with db.sessions() as session:
        assert delivery_queue.status_counts(session) == {"sent": 1}


def test_failures_back_off_then_die_and_an_operator_revives(db: Database) -> None:
    queue(db, make_lender(db), "k")
    moment = NOW
    for attempt in range(1, MAX_ATTEMPTS + 1):
        [row] = delivery_queue.claim_due(db.sessions, now=moment, lease=LEASE, limit=1)
        assert row.attempts == attempt - 1
        moment += timedelta(minutes=attempt)
        fail(db, row, error="boom", retry_at=moment)
    assert delivery_queue.claim_due(db.sessions, now=moment, lease=LEASE, limit=1) == []
    with db.sessions() as session:
        [dead] = delivery_queue.list_entries(session, OutboxView.DEAD)
        assert (dead.attempts, dead.last_error) == (MAX_ATTEMPTS, "boom")
        assert delivery_queue.status_counts(session) == {"dead": 1}
    assert delivery_queue.revive(db.sessions, dead.id, now=moment)
    [again] = delivery_queue.claim_due(db.sessions, now=moment, lease=LEASE, limit=1)
    assert again.attempts == 0
    assert mark_sent(db, again, at=moment) == 1
    assert not delivery_queue.revive(db.sessions, dead.id, now=moment)  # sent stays sent


def post(db: Database, channel: str, key: str, *, happened: datetime) -> None:
    """A circle's post, queued when its event happened."""
    with db.sessions() as session, session.begin():
        outbox.enqueue(
            session,
            dedupe_key=key,
            kind=Kind.CIRCLE_FUNDED,
            payload={},
            now=happened,
            channel_id=channel,
        )


def keys_claimed(db: Database, *, at: datetime, limit: int = 10) -> dict[str, Claimed]:
    rows = delivery_queue.claim_due(db.sessions, now=at, lease=LEASE, limit=limit)
    with db.sessions() as session:
        keys = dict(
            session.execute(
                select(Notification.id, Notification.dedupe_key).where(
                    Notification.id.in_([row.id for row in rows])
                )
            ).all()
        )
    return {keys[row.id]: row for row in rows}


def test_posts_to_a_channel_are_claimed_one_at_a_time_in_the_order_they_happened(
    db: Database,
) -> None:
    lender = make_lender(db)
    # Queued out of order (a slower transaction commits its earlier event later).
    post(db, "C0ANDES", "second", happened=NOW - timedelta(minutes=2))
    post(db, "C0ANDES", "first", happened=NOW - timedelta(minutes=3))
    post(db, "C0ANDES", "third", happened=NOW - timedelta(minutes=1))
    post(db, "C0LIMA", "lima", happened=NOW - timedelta(minutes=1))
    for key in ("dm:a", "dm:b"):
        queue(db, lender, key)

    claimed = keys_claimed(db, at=NOW)
    assert set(claimed) == {"first", "lima", "dm:a", "dm:b"}
    assert keys_claimed(db, at=NOW) == {}  # "second" waits while "first" is on its way

    for row in claimed.values():
        assert mark_sent(db, row, at=NOW) == 1
    second = keys_claimed(db, at=NOW)["second"]
    retry_at = NOW + timedelta(minutes=10)
    assert fail(db, second, error="timed out", retry_at=retry_at) == 1
    assert keys_claimed(db, at=NOW + timedelta(minutes=5)) == {}  # "third" waits its turn
    with db.sessions() as session:
        # Nor is it counted as due: a worker draining until nothing is due would spin on it.
        assert delivery_queue.due_count(session, now=NOW + timedelta(minutes=5)) == 0
    assert set(keys_claimed(db, at=retry_at)) == {"second"}


def test_a_channel_moves_on_past_a_dead_post_and_a_crashed_workers_lease(db: Database) -> None:
    post(db, "C0ANDES", "first", happened=NOW - timedelta(minutes=2))
    post(db, "C0ANDES", "second", happened=NOW - timedelta(minutes=1))
    first = keys_claimed(db, at=NOW)["first"]
    later = NOW + LEASE + timedelta(seconds=1)
    # The worker died: the lease runs out and "first" is taken back before "second".
    first = keys_claimed(db, at=later)["first"]
    delivery_queue.kill(db.sessions, [first.id], lease_until=first.lease_until, error="gone")
    assert set(keys_claimed(db, at=later)) == {"second"}
