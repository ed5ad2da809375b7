"""Databases for the tests: a fresh SQLite file and a private PostgreSQL schema per test.

Every test that had a database ends with the reconciliation (`microlend check`): whatever the
test did, the books must still agree with the rows they come from. A test that builds an
inconsistent state on purpose says so with ``@pytest.mark.unreconciled``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bot.devtools.emulator import Emulator, EmulatorConfig, RateLimitConfig
from storage.db.database import Database, open_database
from storage.db.engine import make_engine
from storage.db.migrate import upgrade
from storage.lending.rules import LendingRules
from tests.reconciled import assert_reconciled

POSTGRES_URL = os.environ.get(
    "MICROLEND_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_reachable() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except OperationalError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    available = postgres_reachable()
    if not available and os.environ.get("CI"):
        pytest.fail(f"CI must have PostgreSQL at {POSTGRES_URL}")
    return available


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test: migrations run once per session."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def sqlite_database(template: Path, directory: Path) -> Database:
    path = directory / "microlend.db"
    shutil.copy(template, path)
    return open_database(f"sqlite:///{path}", auto_upgrade=False)


def reconcile_after(request: pytest.FixtureRequest, database: Database) -> None:
    if request.node.get_closest_marker("unreconciled") is None:
        assert_reconciled(database)


@pytest.fixture
def sqlite_db(
    sqlite_template: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Database]:
    database = sqlite_database(sqlite_template, tmp_path)
    yield database
    reconcile_after(request, database)
    database.dispose()


@pytest.fixture
def postgres_db(postgres_available: bool, request: pytest.FixtureRequest) -> Iterator[Database]:
    if not postgres_available:
        pytest.skip(f"no PostgreSQL server reachable at {POSTGRES_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    upgrade(engine)
    database = Database.on(engine)
    yield database
    reconcile_after(request, database)
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Database:
    """The same test on both databases."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database


@pytest.fixture
def slack() -> Iterator[Emulator]:
    """The local Slack, its rate limits off."""
    with Emulator(EmulatorConfig(rate_limits=RateLimitConfig.off())) as emulator:
        yield emulator


@pytest.fixture
def rules() -> LendingRules:
    return LendingRules()
