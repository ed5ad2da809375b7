"""The database schema: `microlend db upgrade`."""

from __future__ import annotations

import argparse

from bot.cli.common import Subcommands, command, command_group
from bot.runtime.settings import load_settings


def add(commands: Subcommands) -> None:
    db = command_group(commands, "db", "Manage the database schema.")
    command(
        db, "upgrade", "Migrate the database in DATABASE_URL to the latest schema.", _db_upgrade
    )


def _db_upgrade(_args: argparse.Namespace) -> int:
    from storage.db.engine import make_engine
    from storage.db.migrate import head_revision, upgrade

    engine = make_engine(load_settings().database_url)
    try:
        upgrade(engine)
        print(f"Database schema is current (revision {head_revision(engine)}).")
    finally:
        engine.dispose()
    return 0
