"""Opening the database the settings name: SQLite upgrades itself, PostgreSQL must be current."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from storage.db.engine import is_sqlite, make_engine, make_read_sessionmaker, make_sessionmaker
from storage.db.revisions import is_at_newest


class SchemaOutOfDate(RuntimeError):
    pass


@dataclass(frozen=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]
    # For pages and cards that change nothing; writing through one is a bug.
    reads: sessionmaker[Session]

    @classmethod
    def on(cls, engine: Engine) -> Database:
        return cls(engine, make_sessionmaker(engine), make_read_sessionmaker(engine))

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str, *, auto_upgrade: bool | None = None) -> Database:
    """Connect; the embedded SQLite default migrates itself, PostgreSQL is told to run
    ``microlend db upgrade`` so that several instances never race to migrate."""
    engine = make_engine(url)
    if is_at_newest(engine):
        return Database.on(engine)
    if auto_upgrade if auto_upgrade is not None else is_sqlite(engine):
        # Alembic only when there is something to do: loading it costs every start-up.
        from storage.db.migrate import upgrade

        upgrade(engine)
        return Database.on(engine)
    engine.dispose()
    raise SchemaOutOfDate("The database schema is not current: run `microlend db upgrade`.")
