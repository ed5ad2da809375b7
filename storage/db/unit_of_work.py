"""Running lending operations: one transaction each, idempotent by key, typed results.

An operation is a function of a session that returns a result dataclass or raises ``Refused``.
A refusal rolls the whole transaction back, so it leaves no trace; a success is recorded under
its idempotency key with a fingerprint of its parameters, so replaying the key returns the same
result and changes nothing, while reusing the key for different parameters is an error.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.db.clock import utcnow
from storage.db.models import Operation
from storage.ledger.postings import InsufficientBalance

CONFLICT_RETRIES = 5
# Set-based writers take many rows, so they may meet others more often: more tries, spaced.
ROUND_RETRIES = 8

R = TypeVar("R")
P = ParamSpec("P")
# An outcome only hands its result out, so an Outcome[GrantResult] is an Outcome[object].
R_co = TypeVar("R_co", covariant=True)


@dataclass(frozen=True)
class Refusal:
    """Why an operation was refused: a stable code for programs and a sentence for people."""

    code: str
    message: str


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.refusal = Refusal(code, message)


class IdempotencyConflict(Refused):
    def __init__(self, key: str) -> None:
        super().__init__(
            "idempotency_conflict",
            f"The key {key!r} was already used for a different request; use a new key.",
        )


class Retry(Exception):
    """Raised inside an operation when a concurrent writer got there first; run it again."""


@dataclass(frozen=True)
class Outcome(Generic[R_co]):
    """What came of an operation: its result, or the refusal that left everything unchanged."""

    result: R_co | None
    refusal: Refusal | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.refusal is None

    def value(self) -> R_co:
        if self.result is None:
            raise ValueError(self.refusal.message if self.refusal else "no result")
        return self.result


def fingerprint(kind: str, params: dict[str, Any]) -> str:
    text = json.dumps([kind, params], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run(
    factory: sessionmaker[Session],
    kind: str,
    key: str | None,
    params: dict[str, Any],
    body: Callable[[Session], R],
    result_type: type[R],
) -> Outcome[R]:
    """Run ``body`` in one transaction, at most once per ``key``."""
    for _attempt in range(CONFLICT_RETRIES):
        try:
            return _run_once(factory, kind, key, params, body, result_type)
        except (Retry, InsufficientBalance):
            continue
        except IntegrityError:
            # Two requests with one key raced; the loser's insert failed and it rolled back.
            # On the next pass it finds the winner's record and replays it.
            if key is None:
                raise
        except OperationalError as error:
            if not _is_transient(error):
                raise
    return Outcome(None, Refusal("busy", "Too many people are doing this at once; try again."))


class Busy(Exception):
    """A set-based writer kept meeting concurrent writers; nothing it did was committed."""


def retrying(attempt: Callable[[], R]) -> R:
    """Run a whole transaction again when PostgreSQL chose it as a deadlock's victim (or
    SQLite's lock could not be had): the writers that take many rows at once (a repayment
    round, an export) cannot always take them in one order, and then one gives way."""
    for number in range(ROUND_RETRIES):
        try:
            return attempt()
        except OperationalError as error:
            if not _is_transient(error):
                raise
        # Back off, with jitter, so the same writers do not meet again at once.
        time.sleep(random.uniform(0.01, 0.05) * 2**number)
    raise Busy("gave up after meeting concurrent writers; try again")


def retried(writer: Callable[P, R]) -> Callable[P, R]:
    """``writer``, run again whole (``retrying``) when it loses a deadlock."""

    @functools.wraps(writer)
    def again(*args: P.args, **kwargs: P.kwargs) -> R:
        return retrying(lambda: writer(*args, **kwargs))

    return again


def _run_once(
    factory: sessionmaker[Session],
    kind: str,
    key: str | None,
    params: dict[str, Any],
    body: Callable[[Session], R],
    result_type: type[R],
) -> Outcome[R]:
    digest = fingerprint(kind, params)
    try:
        with transaction(factory) as session:
            if key is not None:
                prior = session.get(Operation, key)
                if prior is not None:
                    if prior.fingerprint != digest:
                        raise IdempotencyConflict(key)
                    return Outcome(_decode(result_type, prior.result), replayed=True)
            result = body(session)
            if key is not None:
                session.execute(
                    insert(Operation).values(
                        key=key,
                        kind=kind,
                        fingerprint=digest,
                        result=_encode(result),
                        created_at=utcnow(),
                    )
                )
            return Outcome(result)
    except Refused as refused:
        return Outcome(None, refused.refusal)


def recorded(factory: sessionmaker[Session], key: str, result_type: type[R]) -> R | None:
    """What the operation done under ``key`` returned, if one was: for telling a person that
    a differing request under the same key (an older copy of a button) was already done."""
    with factory() as session:
        prior = session.get(Operation, key)
        return None if prior is None else _decode(result_type, prior.result)


def _is_transient(error: OperationalError) -> bool:
    text = str(error.orig).lower()
    return "deadlock" in text or "could not serialize" in text or "database is locked" in text


def _encode(result: Any) -> dict[str, Any]:
    encoded: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(result), default=str))
    return encoded


def _decode(result_type: type[R], data: dict[str, Any]) -> R:
    return result_type(**data)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One database transaction: committed on success, rolled back (leaving no trace) on error."""
    with factory() as session, session.begin():
        yield session
