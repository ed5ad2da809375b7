"""One lock across every process of a deployment, for refreshing a rotating token.

Slack's refresh tokens are single-use: two workers refreshing the same token at once would
spend it twice, and the loser's installation would be left with a dead one. On PostgreSQL a
session-level advisory lock, held on a connection of its own (the installation store writes
on others); on SQLite, whose processes share one file, an exclusive ``flock`` on a file
beside the database.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

# In one process (an in-memory SQLite database, tests), threads queue here.
_LOCAL = threading.Lock()


def lock_key(name: str) -> int:
    """A signed 64-bit key for ``pg_advisory_lock``, stable across processes."""
    digest = hashlib.blake2b(f"microlend-token:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def token_lock(engine: Engine, name: str) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with _advisory(engine, lock_key(name)):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with _LOCAL:
            yield
        return
    with _file_lock(Path(f"{database}.token-lock")):
        yield


@contextmanager
def _advisory(engine: Engine, key: int) -> Iterator[None]:
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            connection.commit()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with _LOCAL, path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
