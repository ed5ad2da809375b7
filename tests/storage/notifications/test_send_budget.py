"""The send budget that worker processes share: blocks of slots, pauses, concurrent bookings."""

from __future__ import annotations

import threading

from sqlalchemy import select

from storage.db.database import Database
from storage.notifications import send_budget
from storage.notifications.models import SendBudget


def book(db: Database, count: int, *, now: float, name: str = "posts") -> tuple[float, ...]:
    return send_budget.reserve(db.sessions, name, count=count, interval=0.5, now=now).slots


def test_blocks_follow_each_other_at_the_interval_from_now(db: Database) -> None:
    assert book(db, 3, now=100.0) == (100.0, 100.5, 101.0)
    assert book(db, 2, now=100.0) == (101.5, 102.0)
    # Slots nobody booked are not made up for later: a block starts no earlier than now.
    assert book(db, 2, now=200.0) == (200.0, 200.5)


def test_a_block_starts_after_the_pause_and_reports_it(db: Database) -> None:
    book(db, 1, now=100.0)
    send_budget.pause(db.sessions, "posts", until=130.0)

    booking = send_budget.reserve(db.sessions, "posts", count=2, interval=0.5, now=101.0)

    assert booking == send_budget.Booking(slots=(130.0, 130.5), paused_until=130.0)


def test_a_pause_moves_forward_only_and_names_are_separate(db: Database) -> None:
    send_budget.pause(db.sessions, "posts", until=130.0)  # the first pause creates the row
    send_budget.pause(db.sessions, "posts", until=110.0)

    assert book(db, 1, now=100.0) == (130.0,)
    assert book(db, 1, now=100.0, name="other") == (100.0,)
    with db.sessions() as session:
        rows = session.execute(select(SendBudget.name, SendBudget.paused_until)).all()
    assert sorted(rows) == [("other", 0.0), ("posts", 130.0)]


def test_concurrent_bookings_get_disjoint_slots(db: Database) -> None:
    threads, blocks, count = 8, 10, 4
    start = threading.Barrier(threads)
    booked: list[float] = []

    def reserve_blocks() -> None:
        start.wait()
        for _ in range(blocks):
            booked.extend(book(db, count, now=1_000.0))

    workers = [threading.Thread(target=reserve_blocks) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sorted(booked) == [1_000.0 + 0.5 * n for n in range(threads * blocks * count)]
