"""Claims, leases and settlements of the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from storage.db.database import Database
from storage.notifications import delivery_queue, outbox
from storage.notifications.delivery_queue import Claimed, OutboxView
from storage.notifications.kinds import Kind
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
