"""The live database: engine, transactions, schema upgrades, tenants.

``Database`` is the boundary where driver errors become
``decisionform.errors.DatabaseError`` carrying the database's own reason
(a trigger's message, a constraint's name), so nothing above this module
sees a SQLAlchemy or psycopg exception.

SQLite is set up for a tool that several processes run at once: WAL (readers
never block the writer), a busy timeout, foreign keys on, and write
transactions that start with ``BEGIN IMMEDIATE`` so two writers queue on the
lock instead of failing with "database is locked" half-way through.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from decisionform.errors import DatabaseError, TenantError
from decisionform.providers import driver
from decisionform.providers.driver import NOT_INITIALISED, Reader, as_reader
from decisionform.providers.layout import TENANT_PREFIX, make_id, utcnow

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection, Engine
    from sqlalchemy.exc import SQLAlchemyError

__all__ = ["NOT_INITIALISED", "Database", "Tenant", "create_tenant", "existing_sealing_key", "list_tenants",
           "normalize_url", "sealing_key", "tenant_id", "tenant_identity", "translate"]

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works: it only has to be the same for every process upgrading.
_UPGRADE_LOCK_KEY = 0x6466_7570


def _json_dumps(value: Any) -> str:
    return driver.json_dumps(value).decode("utf-8")  # SQLAlchemy binds JSON for SQLite as text


normalize_url = driver.parse_url


def translate(exc: SQLAlchemyError) -> DatabaseError:
    """A ``DatabaseError`` saying what the database refused and why."""
    from sqlalchemy.exc import DBAPIError

    orig = getattr(exc, "orig", None) or exc
    if driver.missing_schema(orig):
        return DatabaseError(NOT_INITIALISED)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseError(f"lost the database connection: {driver.reason(orig)}")
    return DatabaseError(f"database error: {driver.reason(orig)}")


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


class Database:
    """One live database: ``snapshot()`` for reading on the driver, ``read()`` and ``write()``
    for SQLAlchemy transactions (its engine is made on first use)."""

    def __init__(self, url: str) -> None:
        self.url = driver.parse_url(url)
        self.dialect = self.url.dialect

    @cached_property
    def engine(self) -> Engine:
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError

        try:
            # Connections come from driver.connect: one set-up for both paths.
            json = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
            connect = partial(driver.connect, self.url)
            if self.dialect == "sqlite":
                engine = create_engine(self.url.render(), creator=connect, **json)
                _configure_sqlite(engine)
            else:
                engine = create_engine(self.url.render(), creator=connect, pool_pre_ping=True, **json)
            event.listen(engine, "before_cursor_execute", lambda _c, _cur, statement, *_: driver.notify(statement))
            return engine
        except (ArgumentError, SQLAlchemyError, ImportError) as exc:
            raise DatabaseError(f"cannot use database {self.identity()}: {exc}") from exc

    def identity(self) -> str:
        """Which database this is, without credentials (stored in plan files)."""
        return driver.identity(self.url)

    def __repr__(self) -> str:
        return f"Database({self.identity()!r})"

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A consistent, read-only snapshot on the driver (no SQLAlchemy): what plans read."""
        with driver.snapshot(self.url) as reader:
            yield reader

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent, read-only snapshot (PostgreSQL: REPEATABLE READ READ ONLY).

        On SQLite in WAL mode a deferred transaction gives the same: every
        read sees the database as of its first statement.
        """
        options: dict[str, Any] = {}
        if self.dialect == "postgresql":
            options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        with self._transaction(options) as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on exit, rolled back on any exception."""
        with self._transaction({"df_write": True}) as conn:
            yield conn

    @contextmanager
    def _transaction(self, options: dict[str, Any]) -> Iterator[Connection]:
        from sqlalchemy.exc import SQLAlchemyError

        engine = self.engine
        try:
            with engine.connect() as conn:
                conn.execution_options(**options)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise translate(exc) from exc

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; a no-op when it is there."""
        from sqlalchemy import text

        with self.write() as conn:
            if self.dialect == "postgresql":
                # Two processes upgrading at once would both try CREATE TABLE.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK_KEY})
            # why: imported here, Alembic (~0.3 s) is paid only by `db upgrade`, not by every command
            from alembic import command

            command.upgrade(alembic_config(conn), "head")

    def current_revision(self) -> str | None:
        """The migration the schema is at (None: never upgraded)."""
        from alembic.runtime.migration import MigrationContext

        with self.read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        if "engine" in self.__dict__:  # made only if used
            self.engine.dispose()


def alembic_config(connection: Connection) -> Config:
    """An Alembic config in code: no alembic.ini needed by users."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _configure_sqlite(engine: Engine) -> None:
    """The SQLAlchemy recipe that lets us emit BEGIN (IMMEDIATE) ourselves (driver.connect
    turned pysqlite's own BEGIN off)."""
    from sqlalchemy import event

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock up front: a deferred transaction that
        # upgrades from read to write can fail with SQLITE_BUSY immediately.
        write = conn.get_execution_options().get("df_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# ------------------------------------------------------------------ tenants
def _check_tenant_name(name: str) -> str:
    if not name.strip() or len(name) > 255:
        raise TenantError("a tenant name must be 1 to 255 characters, not all blank")
    return name


def create_tenant(conn: Connection, name: str) -> str:
    """Create tenant ``name`` and return its id; TenantError if it exists."""
    from decisionform.bundle.secrets import new_sealing_key
    from decisionform.providers.schema import tenants

    name = _check_tenant_name(name)
    if as_reader(conn).value("SELECT id FROM tenants WHERE name = ?", (name,)) is not None:
        raise TenantError(f"tenant {name!r} already exists")
    tenant_id = make_id(TENANT_PREFIX)
    conn.execute(tenants.insert().values(id=tenant_id, name=name, created_at=utcnow(),
                                         sealing_key=new_sealing_key()))
    return tenant_id


def tenant_id(conn: Connection | Reader, name: str) -> str:
    """The id of tenant ``name``; TenantError naming the fix when unknown."""
    return tenant_identity(conn, name)[0]


def tenant_identity(conn: Connection | Reader, name: str) -> tuple[str, str | None]:
    """The id and the sealing key (None until first used) of tenant ``name``."""
    rows = as_reader(conn).rows("SELECT id, sealing_key FROM tenants WHERE name = ?", (name,))
    if not rows:
        raise TenantError(f"unknown tenant {name!r}; create it with `decisionform tenant create {name}`")
    return str(rows[0][0]), (str(rows[0][1]) if rows[0][1] else None)


def existing_sealing_key(conn: Connection | Reader, tenant: str) -> str | None:
    key = as_reader(conn).value("SELECT sealing_key FROM tenants WHERE id = ?", (tenant,))
    return str(key) if key else None


def sealing_key(conn: Connection, tenant: str) -> str:
    """The tenant's key for sealing plan-file secrets, created on first use."""
    from decisionform.bundle.secrets import new_sealing_key
    from decisionform.providers.schema import tenants

    key = existing_sealing_key(conn, tenant)
    if key:
        return key
    conn.execute(tenants.update().where(tenants.c.id == tenant, tenants.c.sealing_key.is_(None))
                 .values(sealing_key=new_sealing_key()))
    return str(existing_sealing_key(conn, tenant))


def list_tenants(conn: Connection | Reader) -> list[Tenant]:
    reader = as_reader(conn)
    rows = reader.rows("SELECT id, name, created_at FROM tenants ORDER BY name")
    return [Tenant(row[0], row[1], reader.decode_time(row[2])) for row in rows]
