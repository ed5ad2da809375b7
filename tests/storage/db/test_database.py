"""Sessions: writers queue for SQLite's one write lock; readers never do."""

from __future__ import annotations

import threading

from sqlalchemy import func, select, text

from storage.db.database import Database
from storage.projects.models import Project
from tests.factories import make_project


def test_a_reader_reads_while_a_writer_holds_the_write_lock(sqlite_db: Database) -> None:
    make_project(sqlite_db)
    counted: list[int] = []

    def read() -> None:
        with sqlite_db.reads() as session:
            counted.append(session.execute(select(func.count()).select_from(Project)).scalar_one())

    with sqlite_db.sessions() as writer, writer.begin():
        writer.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is now held
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(timeout=5)
        assert counted == [1], "the reader waited for the writer"


def test_a_reader_sees_what_was_committed(db: Database) -> None:
    make_project(db)
    with db.reads() as session:
        assert session.execute(select(func.count()).select_from(Project)).scalar_one() == 1
