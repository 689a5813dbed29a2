"""Migration 0002: the state document becomes json (PostgreSQL) and keeps every byte of data."""

from __future__ import annotations

import orjson
from alembic import command

from decisionform.engine import Engine, Settings
from decisionform.providers.database import Database, alembic_config

DOCUMENT = {"Category.Cards": {"id": "cat_aaaaaaaaaaaaaaaaaaaa", "digest": "sha256:" + "0" * 64,
                               "metadata": {"labels": {"b": "2", "a": "1"}}, "spec": {"status": "active"}}}


def _migrate(db: Database, to: str, *, down: bool = False) -> None:
    with db.write() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), to)


def _document_type(db: Database) -> str | None:
    if db.dialect != "postgresql":
        return None
    with db.read() as conn:
        return conn.exec_driver_sql(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'gitops_state' "
            "AND column_name = 'document' AND table_schema = current_schema()").scalar()


def test_upgrade_to_0002_keeps_the_state(db_url: str, backend: str) -> None:
    db = Database(db_url)
    try:
        _migrate(db, "0001")
        assert _document_type(db) == ("jsonb" if backend == "postgresql" else None)
        with db.write() as conn:  # a tenant with state, as 0001 stored it
            conn.exec_driver_sql("INSERT INTO tenants (id, name) VALUES ('ten_x', 'acme')")
            cast = "::jsonb" if backend == "postgresql" else ""
            params = (orjson.dumps(DOCUMENT).decode(),)
            sql = ("INSERT INTO gitops_state (tenant_id, lineage, serial, document, applied_plan_ids) "
                   f"VALUES ('ten_x', 'lin', 3, {'%s' if backend == 'postgresql' else '?'}{cast}, '[]')")
            conn.exec_driver_sql(sql, params)
        db.upgrade()
        assert db.current_revision() == "0002"
        assert _document_type(db) == ("json" if backend == "postgresql" else None)
        engine = Engine(Settings(database_url=db_url, tenant="acme"))
        state = engine.pull_state()
        engine.close()
        assert (state.lineage, state.serial) == ("lin", 3)
        entry = state.resources["Category.Cards"]
        assert (entry.id, entry.metadata, entry.spec) == ("cat_aaaaaaaaaaaaaaaaaaaa", {"labels": {"a": "1", "b": "2"}},
                                                         {"status": "active"})
        _migrate(db, "0001", down=True)
        assert _document_type(db) == ("jsonb" if backend == "postgresql" else None)
    finally:
        db.dispose()
