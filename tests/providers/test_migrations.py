"""The Alembic history creates exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from decisionform.errors import DatabaseError
from decisionform.providers.database import MIGRATIONS, NOT_INITIALISED, Database, alembic_config, tenant_id
from decisionform.providers.schema import metadata


def test_autogenerate_finds_no_difference(database: Database) -> None:
    with database.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_upgrade_is_idempotent_and_reaches_head(db_url: str) -> None:
    db = Database(db_url)
    try:
        db.upgrade()
        db.upgrade()
        with db.write() as conn:
            head = ScriptDirectory.from_config(alembic_config(conn)).get_current_head()
        assert db.current_revision() == head
    finally:
        db.dispose()


def test_missing_schema_says_how_to_fix_it(db_url: str) -> None:
    db = Database(db_url)
    try:
        with pytest.raises(DatabaseError) as err, db.read() as conn:
            tenant_id(conn, "acme")
        assert str(err.value) == NOT_INITIALISED
    finally:
        db.dispose()


def test_initial_migration_is_frozen() -> None:
    text = (MIGRATIONS / "versions" / "0001_initial.py").read_text(encoding="utf-8")
    assert "op.create_table(" in text
    assert "create_all" not in text
    # A released migration must not change when the schema module does.
    assert "decisionform" not in text.split('"""', 2)[2]


def test_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert Path(MIGRATIONS).parent.name == "providers"
