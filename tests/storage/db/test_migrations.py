"""The Alembic migrations produce exactly the models' schema, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, inspect, select, text

from storage.db.database import Database
from storage.db.migrate import head_revision, is_up_to_date
from storage.db.revisions import is_at_newest, newest_revision
from storage.db.schema import METADATA
from storage.ledger.models import ACCOUNTS_FILLFACTOR, SYSTEM_ACCOUNT_KINDS, Account
from storage.lending.models import PLEDGES_FILLFACTOR


def with_slack_stores() -> MetaData:
    """microlend's models and the tables of slack_sdk's installation and OAuth state stores,
    as the installed slack_sdk defines them (migration 0011 creates them)."""
    combined = MetaData(naming_convention=METADATA.naming_convention)
    for table in METADATA.tables.values():
        table.to_metadata(combined)
    SQLAlchemyInstallationStore.build_installations_table(combined, "slack_installations")
    SQLAlchemyInstallationStore.build_bots_table(combined, "slack_bots")
    SQLAlchemyOAuthStateStore.build_oauth_states_table(combined, "slack_oauth_states")
    return combined


def test_migrations_match_the_models_and_slack_sdks_stores(db: Database) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, with_slack_stores())
    assert differences == []


def test_the_database_is_at_the_head_revision(db: Database) -> None:
    assert head_revision(db.engine) is not None
    assert is_up_to_date(db.engine)


def test_the_programme_accounts_exist_exactly_once(db: Database) -> None:
    with db.sessions() as session:
        kinds = session.execute(select(Account.kind).where(Account.lender_id.is_(None))).scalars()
        assert sorted(kinds) == sorted(SYSTEM_ACCOUNT_KINDS)


def test_pledge_indexes_on_sparse_columns_hold_only_the_rows_that_have_a_value(
    db: Database,
) -> None:
    # Alembic's comparison does not look at index predicates, so they are read back here.
    with db.engine.connect() as connection:
        indexes = inspect(connection).get_indexes("pledges")
    partial = {
        index["name"]: index.get("dialect_options", {}) for index in indexes if index["name"]
    }
    for column in ("circle_id", "payroll_export_id"):
        options = partial[f"ix_pledges_{column}"]
        where = options.get(f"{db.engine.dialect.name}_where")
        assert where is not None and f"{column} IS NOT NULL" in str(where)


@pytest.mark.postgres
def test_repayments_find_room_on_the_pages_they_rewrite(postgres_db: Database) -> None:
    with postgres_db.engine.connect() as connection:
        options: dict[str, str] = dict(
            connection.execute(
                text(
                    "SELECT relname, array_to_string(reloptions, ',') FROM pg_class"
                    " WHERE relname IN ('pledges', 'accounts')"
                    " AND relnamespace = current_schema()::regnamespace"
                )
            ).all()
        )
    assert options == {
        "pledges": f"fillfactor={PLEDGES_FILLFACTOR}",
        "accounts": f"fillfactor={ACCOUNTS_FILLFACTOR}",
    }


def test_the_newest_revision_by_file_name_is_alembics_head(db: Database) -> None:
    # open_database trusts the file names to skip loading Alembic when nothing is to do.
    assert newest_revision() == head_revision(db.engine)
    assert is_at_newest(db.engine)
