"""The database drivers themselves (sqlite3, psycopg 3): URLs, connections, and the read path.

``plan``, ``refresh`` and ``export`` only read: a consistent snapshot, one query per
table. They run here on the driver, without SQLAlchemy, whose import alone costs
more than reading 10,000 rows (DESIGN §9). Writes go through SQLAlchemy
(``database.py``), whose engine gets its connections from ``connect`` below, so
both paths share one URL parser and one connection set-up. ``Reader`` runs the
same SELECTs on either kind of connection: a raw one (plans) or the connection
of an apply's write transaction (its reads must see its own lock and snapshot).

Every statement either path sends is reported to ``listeners`` (the benchmark's
statement counter, tests).
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import orjson

from decisionform.errors import DatabaseError

SQLITE_BUSY_TIMEOUT_S = 60
CONNECT_TIMEOUT_S = 10  # PostgreSQL: how long to wait for a connection (the URL's connect_timeout wins)
NOT_INITIALISED = "database schema is not initialised; run `decisionform db upgrade`"

# ------------------------------------------------------------------ URLs
_SCHEME_RE = re.compile(r"^(?P<name>[\w+]+)://")
_HOST_RE = re.compile(r"""
    ^(?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?$
""", re.X)


@dataclass(frozen=True)
class DatabaseUrl:
    """A parsed ``sqlite:///PATH`` or ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE?…``."""

    drivername: str  # "sqlite" or "postgresql+psycopg"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.drivername.split("+", 1)[0]

    def get_backend_name(self) -> str:
        return self.dialect

    def render(self) -> str:
        """The URL again, password included (for SQLAlchemy's dialect choice; never printed)."""
        auth = ""
        if self.username is not None:
            auth = quote(self.username, safe="") + (
                f":{quote(self.password, safe='')}" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if self.host and ":" in self.host else (self.host or "")
        port = f":{self.port}" if self.port is not None else ""
        query = "?" + "&".join(f"{k}={v}" for k, v in self.query.items()) if self.query else ""
        return f"{self.drivername}://{auth}{host}{port}/{self.database or ''}{query}"


def parse_url(url: str) -> DatabaseUrl:
    """Parse ``url``; plain ``postgresql://`` and ``postgres://`` use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    scheme = _SCHEME_RE.match(url)
    rest = url[scheme.end():] if scheme else ""
    # The credentials end at the last "@" before the query: a password with an unencoded "@"
    # must not turn into a host name (and be printed in "cannot connect to ..." errors).
    at = rest.rfind("@", 0, rest.find("?") if "?" in rest else len(rest))
    userinfo, hostpart = (rest[:at], rest[at + 1:]) if at >= 0 else (None, rest)
    found = _HOST_RE.match(hostpart) if scheme else None
    if scheme is None or found is None:
        raise DatabaseError("invalid database URL: write sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE")
    username, password = None, None
    if userinfo is not None:
        user, colon, secret = userinfo.partition(":")
        username, password = unquote(user), (unquote(secret) if colon else None)
    name = scheme["name"]
    backend, _, driver = name.partition("+")
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseError(f"unsupported database {backend!r}: use sqlite:///PATH or "
                            "postgresql://USER@HOST:PORT/DATABASE")
    if backend == "postgresql" and driver not in ("", "psycopg"):
        raise DatabaseError(f"unsupported driver {driver!r}: decisionform talks to PostgreSQL with psycopg 3 "
                            "(postgresql://USER@HOST:PORT/DATABASE)")
    if backend == "sqlite" and driver not in ("", "pysqlite"):
        raise DatabaseError(f"unsupported driver {driver!r}: use sqlite:///PATH")
    port = None
    if found["port"]:
        try:
            port = int(found["port"])
        except ValueError:
            raise DatabaseError("invalid database URL: the port is not a number") from None
    return DatabaseUrl(
        drivername="postgresql+psycopg" if backend == "postgresql" else "sqlite",
        username=username,
        password=password,
        host=found["ipv6host"] or found["ipv4host"] or None,
        port=port,
        database=found["database"] or None,
        query=dict(parse_qsl(found["query"] or "")),
    )


def identity(url: DatabaseUrl) -> str:
    """Which database this is, without credentials (stored in plan files)."""
    if url.dialect == "sqlite":
        db = url.database or ""
        if db in ("", ":memory:") or db.startswith("file:"):
            return f"sqlite:///{db or ':memory:'}"
        return f"sqlite:///{Path(db).resolve()}"
    port = f":{url.port}" if url.port else ""
    host = f"[{url.host}]" if url.host and ":" in url.host else (url.host or "localhost")
    return f"{url.dialect}://{host}{port}/{url.database or ''}"


# ------------------------------------------------------------------ statements seen
# Listeners see the text of every statement sent, by either path (an executemany or a
# COPY is one). With DECISIONFORM_COUNT_STATEMENTS=PATH, a process counts them by their
# first word and writes {"SELECT": n, ...} to PATH at exit (the benchmark reads it).
listeners: list[Callable[[str], None]] = []


def notify(statement: str) -> None:
    for listener in listeners:
        listener(statement)


@contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    listeners.append(listener)
    try:
        yield
    finally:
        listeners.remove(listener)


def _count_statements_at_exit() -> None:
    path = os.environ.get("DECISIONFORM_COUNT_STATEMENTS")
    if not path:
        return
    counts: Counter[str] = Counter()
    listeners.append(lambda statement: counts.update((statement.split(None, 1)[0].upper(),)))

    def write() -> None:
        try:
            Path(path).write_bytes(orjson.dumps(counts))
        except OSError as exc:
            print(f"Warning: cannot write the statement counts to {path}: {exc.strerror or exc}", file=sys.stderr)

    atexit.register(write)


_count_statements_at_exit()


# ------------------------------------------------------------------ connections
def connect(url: DatabaseUrl, *, decode: bool = False) -> Any:
    """A DB-API connection set up for this tool (both paths use it).

    SQLite, for a tool several processes run at once: a busy timeout, foreign keys
    on, WAL (readers never block the writer), and no implicit BEGIN from the driver
    (the caller begins: ``BEGIN IMMEDIATE`` for writers). PostgreSQL: no server-side
    prepared statements (behind a transaction-mode pooler such as PgBouncer the next
    transaction may get another server connection, where psycopg's names collide),
    and JSON decoded with orjson (JSON columns are most of a row; stdlib json is ~5x slower).
    """
    if url.dialect == "sqlite":
        import sqlite3

        database = url.database or ":memory:"
        # ``decode``: the driver decodes JSON, timestamps and booleans by their declared
        # column type as it fetches (a reader's own connection; SQLAlchemy decodes its own).
        types = _sqlite_converters() if decode else 0
        conn = sqlite3.connect(database, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False, uri=database.startswith("file:"), detect_types=types)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        return conn
    import psycopg
    from psycopg.types.json import set_json_dumps, set_json_loads

    # A server that accepts the connection and never answers would otherwise hold a CI job for
    # minutes (libpq's own default is to wait forever); ?connect_timeout=N in the URL overrides it.
    params: dict[str, Any] = {"host": url.host, "port": url.port, "user": url.username,
                              "password": url.password, "dbname": url.database,
                              "connect_timeout": CONNECT_TIMEOUT_S, **url.query}
    conn = psycopg.connect(**{k: v for k, v in params.items() if v is not None}, prepare_threshold=None)
    set_json_loads(orjson.loads, conn)
    set_json_dumps(json_dumps, conn)
    return conn


def json_dumps(value: Any) -> bytes:
    """JSON for a JSON column (orjson: fast, and it writes the pre-serialised ``Fragment`` bodies)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


@functools.cache
def _sqlite_converters() -> int:
    import sqlite3

    sqlite3.register_converter("JSON", _json_text)
    sqlite3.register_converter("DATETIME", _sqlite_time)
    sqlite3.register_converter("BOOLEAN", decode_boolean)
    return sqlite3.PARSE_DECLTYPES


def reason(exc: BaseException) -> str:
    """The database's own words, without the SQL or its parameters (secrets)."""
    primary = getattr(getattr(exc, "diag", None), "message_primary", None)
    if primary:
        return str(primary)
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def missing_schema(exc: BaseException) -> bool:
    if getattr(exc, "sqlstate", None) == "42P01":  # PostgreSQL undefined_table
        return True
    return str(exc).startswith("no such table")


def driver_error(exc: BaseException) -> DatabaseError:
    """A ``DatabaseError`` saying what the database refused and why."""
    if missing_schema(exc):
        return DatabaseError(NOT_INITIALISED)
    return DatabaseError(f"database error: {reason(exc)}")


def _driver_errors(dialect: str) -> tuple[type[BaseException], ...]:
    if dialect == "sqlite":
        import sqlite3

        return (sqlite3.Error,)
    import psycopg

    return (psycopg.Error,)


# ------------------------------------------------------------------ reading
class Reader:
    """SELECTs on one connection, rows as tuples of the driver's own values.

    SQL is written with ``?`` placeholders (PostgreSQL gets ``%s``). ``decode_*``
    turn the driver's values into the engine's: SQLite keeps JSON as text and
    timestamps as naive UTC text, PostgreSQL gives both decoded.
    """

    def __init__(self, dialect: str, run: Callable[[str, Sequence[Any]], list[Any]], *, decoded: bool) -> None:
        self.dialect = dialect
        self._run = run
        # ``decoded``: the driver gave JSON, timestamps and booleans as Python values already
        # (PostgreSQL always; SQLite on a connection made with ``decode``).
        self.decoded = decoded or dialect != "sqlite"
        text = dialect == "sqlite" and not decoded
        self.decode_json: Callable[[Any], Any] = _json_text if text else _same
        self.decode_time: Callable[[Any], datetime | None] = _sqlite_time if dialect == "sqlite" else _pg_time
        self.decode_boolean: Callable[[Any], Any] = decode_boolean if text else _same

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self.dialect != "sqlite":
            sql = sql.replace("?", "%s")
        return self._run(sql, params)

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None


def raw_reader(conn: Any, dialect: str) -> Reader:
    """A reader on a DB-API connection made by ``connect(decode=True)``; errors become ``DatabaseError``."""
    errors = _driver_errors(dialect)

    def run(sql: str, params: Sequence[Any]) -> list[Any]:
        notify(sql)
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        except errors as exc:
            raise driver_error(exc) from exc
        except ValueError as exc:  # a converter's (they read what they cannot decode as text: a safety net)
            raise DatabaseError(f"cannot read a stored value: {exc}") from exc

    return Reader(dialect, run, decoded=True)


def as_reader(conn: Any) -> Reader:
    """``conn`` as a Reader: a Reader already, or a SQLAlchemy connection (an apply's
    transaction; its statements reach the listeners through its engine's hook)."""
    if isinstance(conn, Reader):
        return conn
    return Reader(conn.dialect.name, lambda sql, params: conn.exec_driver_sql(sql, tuple(params)).all(),
                  decoded=False)


@contextmanager
def snapshot(url: DatabaseUrl) -> Iterator[Reader]:
    """A consistent, read-only snapshot on a connection of its own.

    PostgreSQL: REPEATABLE READ READ ONLY. SQLite in WAL mode: a deferred
    transaction sees the database as of its first read.
    """
    errors = _driver_errors(url.dialect)
    try:
        conn = connect(url, decode=True)
    except errors as exc:
        raise DatabaseError(f"cannot connect to {identity(url)}: {reason(exc)}") from exc
    try:
        if url.dialect == "sqlite":
            conn.execute("BEGIN")
        else:
            import psycopg

            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
        yield raw_reader(conn, url.dialect)
    finally:
        with suppress(*errors):  # why: nothing was written; a broken connection is closed below anyway
            conn.rollback() if url.dialect != "sqlite" else conn.execute("ROLLBACK")
        conn.close()


def _same(value: Any) -> Any:
    return value


# SQLite keeps whatever text the platform's UI (or a hand edit) stores, valid or not. Such a value
# reads as the text it is, so the row shows as drift that plan and apply repair (H11), instead of
# one bad cell stopping every command.
_UNREADABLE_TIME = datetime.min.replace(tzinfo=UTC)  # a timestamp that is set, but no timestamp


def _json_text(value: Any) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def decode_boolean(value: Any) -> Any:
    """A SQLite boolean (stored as 0 / 1; as an int through SQLAlchemy, as bytes to a converter)."""
    if isinstance(value, int):
        return value != 0
    try:
        return int(value) != 0
    except (TypeError, ValueError):
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _sqlite_time(value: Any) -> datetime | None:
    # stored as naive UTC text ("2026-12-04 16:20:00.123456"; CURRENT_TIMESTAMP omits the fraction)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return _UNREADABLE_TIME
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _pg_time(value: Any) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
