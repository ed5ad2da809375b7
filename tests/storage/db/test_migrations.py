"""The Alembic migrations produce exactly the models' schema, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from storage.db.database import Database
from storage.db.migrate import head_revision, is_up_to_date
from storage.db.schema import METADATA
from storage.ledger.models import SYSTEM_ACCOUNT_KINDS, Account


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, METADATA)
    assert differences == []


def test_the_database_is_at_the_head_revision(db: Database) -> None:
    assert head_revision(db.engine) is not None
    assert is_up_to_date(db.engine)


def test_the_programme_accounts_exist_exactly_once(db: Database) -> None:
    with db.sessions() as session:
        kinds = session.execute(select(Account.kind).where(Account.lender_id.is_(None))).scalars()
        assert sorted(kinds) == sorted(SYSTEM_ACCOUNT_KINDS)
