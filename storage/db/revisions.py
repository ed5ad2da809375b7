"""Whether a database is at the newest migration, told without loading Alembic.

Every command and process opens the database; loading Alembic and its migration scripts to
learn that nothing needs doing costs a fifth of a second each time. The migrations are one
line of history whose files are named by their revision (``0007_room_for_repayments.py`` is
revision ``0007``), so the newest is the largest name; a test holds that to Alembic's head.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect, text

VERSIONS = Path(__file__).parent / "migrations" / "versions"


def newest_revision() -> str:
    return max(path.name.split("_", 1)[0] for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def is_at_newest(engine: Engine) -> bool:
    """The database records the newest revision (a new database records none)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        stored = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return list(stored) == [newest_revision()]
