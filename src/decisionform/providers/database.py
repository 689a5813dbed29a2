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

import atexit
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from decisionform.errors import DatabaseError, TenantError
from decisionform.providers.schema import TENANT_PREFIX, make_id, tenants, utcnow

if TYPE_CHECKING:
    from alembic.config import Config

SQLITE_BUSY_TIMEOUT_S = 60
MIGRATIONS = Path(__file__).parent / "migrations"
NOT_INITIALISED = "database schema is not initialised; run `decisionform db upgrade`"
# Any constant works: it only has to be the same for every process upgrading.
_UPGRADE_LOCK_KEY = 0x6466_7570


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


# ------------------------------------------------------------------ statement counting (bench/)
# With DECISIONFORM_COUNT_STATEMENTS=PATH, a process counts the SQL statements it sends
# (an executemany or a COPY is one) and writes {"SELECT": n, ...} to PATH at exit.
_STATEMENTS: Counter[str] = Counter()
_COUNTING: list[bool] = []  # set once the exit hook is registered


def _count_statements(engine: Engine) -> None:
    path = os.environ.get("DECISIONFORM_COUNT_STATEMENTS")
    if not path:
        return
    if not _COUNTING:  # the first engine of the process: write the counts at exit
        _COUNTING.append(True)
        atexit.register(lambda: Path(path).write_bytes(orjson.dumps(_STATEMENTS)))
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: _STATEMENTS.update((statement.split(None, 1)[0].upper(),)))


def normalize_url(url: str) -> URL:
    """Parse ``url``; plain ``postgresql://`` and ``postgres://`` use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"invalid database URL: {exc}") from exc
    except ValueError:  # SQLAlchemy's own words would be "invalid literal for int()"
        raise DatabaseError("invalid database URL: the port is not a number") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseError(f"unsupported database {backend!r}: use sqlite:///PATH or "
                            "postgresql://USER@HOST:PORT/DATABASE")
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _reason(exc: BaseException) -> str:
    """The database's own words, without the SQL or its parameters (secrets)."""
    orig = getattr(exc, "orig", None) or exc
    primary = getattr(getattr(orig, "diag", None), "message_primary", None)
    if primary:
        return str(primary)
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def _missing_schema(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    if orig is None:
        return False
    if getattr(orig, "sqlstate", None) == "42P01":  # PostgreSQL undefined_table
        return True
    return str(orig).startswith("no such table")


def translate(exc: SQLAlchemyError) -> DatabaseError:
    """A ``DatabaseError`` saying what the database refused and why."""
    if _missing_schema(exc):
        return DatabaseError(NOT_INITIALISED)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return DatabaseError(f"lost the database connection: {_reason(exc)}")
    return DatabaseError(f"database error: {_reason(exc)}")


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


class Database:
    """One live database; ``read()`` and ``write()`` hand out transactions."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.dialect = self.url.get_backend_name()
        self.engine = self._create_engine()

    def _create_engine(self) -> Engine:
        try:
            # orjson: JSON columns are most of a row, and stdlib json is ~5x slower.
            json = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
            if self.dialect == "sqlite":
                engine = create_engine(self.url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **json)
                _configure_sqlite(engine)
            else:
                # No server-side prepared statements: behind a transaction-mode
                # pooler (PgBouncer) the next transaction may get another server
                # connection, where psycopg's "_pg3_N" names collide or are unknown.
                engine = create_engine(self.url, pool_pre_ping=True, connect_args={"prepare_threshold": None},
                                       **json)
            _count_statements(engine)
            return engine
        except (ArgumentError, SQLAlchemyError, ImportError) as exc:
            raise DatabaseError(f"cannot use database {self.identity()}: {exc}") from exc

    def identity(self) -> str:
        """Which database this is, without credentials (stored in plan files)."""
        url = self.url
        if self.dialect == "sqlite":
            db = url.database or ""
            if db in ("", ":memory:") or db.startswith("file:"):
                return f"sqlite:///{db or ':memory:'}"
            return f"sqlite:///{Path(db).resolve()}"
        port = f":{url.port}" if url.port else ""
        return f"{self.dialect}://{url.host or 'localhost'}{port}/{url.database or ''}"

    def __repr__(self) -> str:
        return f"Database({self.identity()!r})"

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
        try:
            with self.engine.connect() as conn:
                conn.execution_options(**options)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise translate(exc) from exc

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; a no-op when it is there."""
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
        self.engine.dispose()


def alembic_config(connection: Connection) -> Config:
    """An Alembic config in code: no alembic.ini needed by users."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _configure_sqlite(engine: Engine) -> None:
    """The SQLAlchemy recipe that lets us emit BEGIN (IMMEDIATE) ourselves."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own BEGIN; the "begin" hook does it.
        dbapi_connection.isolation_level = None
        # (The busy timeout comes from connect_args.)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

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
    name = _check_tenant_name(name)
    if conn.execute(select(tenants.c.id).where(tenants.c.name == name)).first() is not None:
        raise TenantError(f"tenant {name!r} already exists")
    from decisionform.bundle.secrets import new_sealing_key

    tenant_id = make_id(TENANT_PREFIX)
    conn.execute(tenants.insert().values(id=tenant_id, name=name, created_at=utcnow(),
                                         sealing_key=new_sealing_key()))
    return tenant_id


def tenant_id(conn: Connection, name: str) -> str:
    """The id of tenant ``name``; TenantError naming the fix when unknown."""
    found = conn.execute(select(tenants.c.id).where(tenants.c.name == name)).scalar()
    if found is None:
        raise TenantError(f"unknown tenant {name!r}; create it with `decisionform tenant create {name}`")
    return found


def existing_sealing_key(conn: Connection, tenant: str) -> str | None:
    key = conn.execute(select(tenants.c.sealing_key).where(tenants.c.id == tenant)).scalar()
    return str(key) if key else None


def sealing_key(conn: Connection, tenant: str) -> str:
    """The tenant's key for sealing plan-file secrets, created on first use."""
    from decisionform.bundle.secrets import new_sealing_key

    key = conn.execute(select(tenants.c.sealing_key).where(tenants.c.id == tenant)).scalar()
    if key:
        return str(key)
    conn.execute(tenants.update().where(tenants.c.id == tenant, tenants.c.sealing_key.is_(None))
                 .values(sealing_key=new_sealing_key()))
    return str(conn.execute(select(tenants.c.sealing_key).where(tenants.c.id == tenant)).scalar())


def list_tenants(conn: Connection) -> list[Tenant]:
    rows = conn.execute(select(tenants.c.id, tenants.c.name, tenants.c.created_at).order_by(tenants.c.name))
    return [Tenant(row.id, row.name, row.created_at) for row in rows]
