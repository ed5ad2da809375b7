"""A database with the demo loaded on Wednesday 7 January 2026, 10:00 UTC, copied per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.demo import DEMO_CSV, load_demo
from storage.db.database import open_database
from storage.lending.rules import LendingRules
from tests.bot.devtools.console_sessions import WEDNESDAY_10AM


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database with the demo loaded, copied for each session."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    db = open_database(f"sqlite:///{path}")
    load_demo(db.sessions, LendingRules(), DEMO_CSV, now=WEDNESDAY_10AM)
    db.dispose()
    return path


@pytest.fixture
def database_url(demo_template: Path, tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "microlend.db"
    shutil.copy(demo_template, path)
    yield f"sqlite:///{path}"
