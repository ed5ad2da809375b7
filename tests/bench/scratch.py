"""A migrated database of its own for a benchmark: a SQLite file, or a private PostgreSQL schema."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from storage.db.engine import make_engine
from storage.db.migrate import upgrade
from tests.conftest import POSTGRES_URL


@contextmanager
def scratch_database(kind: str, name: str) -> Iterator[str]:
    """The URL of a fresh, migrated database (``kind`` sqlite or postgres), removed after."""
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp()) / f"{name}.db"
        url = f"sqlite:///{path}"
        _migrate(url)
        try:
            yield url
        finally:
            path.unlink()
        return
    schema = f"{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
        _migrate(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
