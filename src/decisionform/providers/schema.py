"""The SQL schema, generated from the kinds registry (DESIGN §3).

Every ``KindDef`` gets its table here with no other edit: the common columns
of §3, then one typed column per top-level spec field (derived from the
pydantic annotation), where a top-level reference becomes a ``<field>_id``
foreign key to the target kind's table. ``SPEC_COLUMNS`` records, per kind,
which spec key lives in which column so that the reader and the writer
(``live.py``) are driven by the same declaration.

The Alembic migrations are a frozen copy of this metadata; a test checks
that autogenerate finds no difference between the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from decisionform.bundle.kinds import KINDS, KindDef
from decisionform.providers.layout import (  # noqa: F401  (re-exported: schema is the one import for tables)
    CHILD_FIELDS,
    COMMON_SPEC_FIELDS,
    ID_LENGTH,
    PLACEMENT_COLUMNS,
    PLACEMENT_PREFIX,
    TENANT_PREFIX,
    SpecColumn,
    kind_spec_columns,
    make_id,
    placement_key,
    placement_ref,
    snake,
    utcnow,
)

# none_as_null: an absent value is SQL NULL, not the JSON literal null.
JsonType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every dialect.

    SQLite has no timezone type: values are stored as naive UTC and read
    back with ``tzinfo=UTC`` so callers never compare naive with aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Deterministic constraint names, so migrations can name what they alter.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# ------------------------------------------------------------ type mapping
def _sql_type(col: SpecColumn) -> TypeEngine[Any]:
    if col.type == "string" or col.type == "id":
        return String(col.length)
    simple: dict[str, TypeEngine[Any]] = {"boolean": Boolean(), "integer": Integer(), "float": Float(),
                                          "text": Text()}
    return simple.get(col.type, JsonType)


def _column(col: SpecColumn) -> Column[Any]:
    if col.type == "id":
        return Column(col.column, String(col.length), ForeignKey(f"{col.target_table}.id"))
    return Column(col.column, _sql_type(col), nullable=True)


# ------------------------------------------------------------ building blocks
def _ts(name: str, nullable: bool = False) -> Column[datetime]:
    # Required timestamps default to now in SQL too, for rows the platform's
    # own UI inserts by hand.
    default = None if nullable else text("CURRENT_TIMESTAMP")
    return Column(name, UTCDateTime(), nullable=nullable, server_default=default)


def _id() -> Column[str]:
    return Column("id", String(ID_LENGTH), primary_key=True)


def _tenant_fk(primary_key: bool = False) -> Column[str]:
    return Column("tenant_id", String(ID_LENGTH), ForeignKey("tenants.id"), nullable=False,
                  primary_key=primary_key)


def _common_columns() -> list[Column[Any]]:
    return [
        _id(),
        _tenant_fk(),
        Column("name", String(255), nullable=False),
        Column("description", Text(), nullable=True),
        Column("status", String(20), nullable=False),
        Column("labels", JsonType, nullable=True),
        Column("annotations", JsonType, nullable=True),
        Column("version", Integer(), nullable=False, server_default=text("1")),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("deleted_at", nullable=True),
    ]


def _live_unique(table: Table, *columns: str) -> Index:
    """Unique among rows not soft-deleted: a deleted name can be reused."""
    live = table.c.deleted_at.is_(None)
    name = "uq_" + "_".join((table.name, *columns))
    return Index(name, *(table.c[c] for c in columns), unique=True, sqlite_where=live, postgresql_where=live)


# ------------------------------------------------------------ tables
def _access_tables(md: MetaData) -> None:
    Table(
        "tenants", md,
        _id(),
        Column("name", String(255), nullable=False),
        _ts("created_at"),
        # Encrypts secrets inside plan files (bundle/secrets.py): a plan
        # artifact alone reveals nothing without this database.
        Column("sealing_key", String(64), nullable=True),
        UniqueConstraint("name"),
    )
    Table(
        "api_keys", md,
        _id(),
        _tenant_fk(),
        Column("name", String(255), nullable=False),
        Column("role", String(20), nullable=False),
        Column("key_hash", String(128), nullable=False),
        Column("key_prefix", String(20), nullable=False),
        _ts("created_at"),
        _ts("expires_at", nullable=True),
        _ts("revoked_at", nullable=True),
        UniqueConstraint("key_hash"),
        Index(None, "tenant_id"),
    )


def _kind_table(md: MetaData, kind: KindDef, tables: dict[str, str]) -> tuple[Table, tuple[SpecColumn, ...]]:
    columns = kind_spec_columns(kind, tables)
    # ``metrics`` is a system column (running counters the platform keeps):
    # it is never part of a spec, and the reader never looks at it.
    system = [Column("metrics", JsonType, nullable=True)]
    table = Table(kind.table, md, *_common_columns(), *map(_column, columns), *system)
    _live_unique(table, "tenant_id", "name")
    for field_name in kind.unique_fields:
        _live_unique(table, "tenant_id", snake(field_name))
    Index(None, table.c.tenant_id)
    return table, columns


def _placements_table(md: MetaData) -> tuple[Table, tuple[SpecColumn, ...]]:
    table = Table(
        "placements", md,
        _id(),
        _tenant_fk(),
        Column("channel_id", String(ID_LENGTH), ForeignKey("channels.id"), nullable=False),
        Column("name", String(255), nullable=False),
        Column("position", Integer(), nullable=False, server_default=text("0")),
        Column("description", Text(), nullable=True),
        *map(_column, PLACEMENT_COLUMNS),
        Column("version", Integer(), nullable=False, server_default=text("1")),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("deleted_at", nullable=True),
    )
    _live_unique(table, "channel_id", "name")
    Index(None, table.c.tenant_id)
    return table, PLACEMENT_COLUMNS


def _engine_tables(md: MetaData) -> None:
    """Audit, state, locks and drift: the engine's own bookkeeping."""
    Table(
        "audit_logs", md,
        Column("id", Integer(), primary_key=True, autoincrement=True),
        _tenant_fk(),
        Column("action", String(64), nullable=False),
        Column("entity_type", String(64), nullable=True),
        Column("entity_name", String(255), nullable=True),
        Column("before", JsonType, nullable=True),
        Column("after", JsonType, nullable=True),
        Column("summary", Text(), nullable=True),
        Column("actor", String(255), nullable=False),
        Column("plan_id", String(64), nullable=True),
        _ts("created_at"),
        Column("prev_hash", String(80), nullable=False),
        Column("integrity_hash", String(80), nullable=False),
        Index(None, "tenant_id", "action"),
    )
    Table(
        "gitops_state", md,
        _tenant_fk(primary_key=True),
        Column("lineage", String(64), nullable=False),
        Column("serial", Integer(), nullable=False),
        # json, not jsonb, on PostgreSQL: the document (every managed resource's body, megabytes
        # at 10,000 resources) is only ever read and written whole, never queried inside, and
        # jsonb would parse it into its binary form on every apply and print it back on every plan.
        Column("document", JSON(none_as_null=True), nullable=False),
        Column("applied_plan_ids", JsonType, nullable=False),
        _ts("updated_at"),
    )
    Table(
        "gitops_locks", md,
        _tenant_fk(primary_key=True),
        Column("lock_id", String(64), nullable=False),
        Column("holder", String(255), nullable=False),
        Column("host", String(255), nullable=False),
        Column("pid", Integer(), nullable=False),
        Column("operation", String(64), nullable=False),
        Column("plan_id", String(64), nullable=True),
        _ts("acquired_at"),
        _ts("expires_at"),
        UniqueConstraint("lock_id"),
    )
    Table(
        "drift_reports", md,
        Column("id", Integer(), primary_key=True, autoincrement=True),
        _tenant_fk(),
        _ts("created_at"),
        Column("summary", JsonType, nullable=False),
        Column("report", JsonType, nullable=False),
        Index(None, "tenant_id", "created_at"),
    )


@dataclass(frozen=True)
class Schema:
    metadata: MetaData
    kind_tables: dict[str, Table]  # kind name -> its table
    spec_columns: dict[str, tuple[SpecColumn, ...]]  # kind name -> spec fields with a column
    placement_columns: tuple[SpecColumn, ...]  # placement spec fields with a column


def build_schema(kinds: Sequence[KindDef]) -> Schema:
    """Every table, with one table per kind of ``kinds``."""
    md = MetaData(naming_convention=NAMING_CONVENTION)
    _access_tables(md)
    tables = {k.name: k.table for k in kinds}
    kind_tables: dict[str, Table] = {}
    columns: dict[str, tuple[SpecColumn, ...]] = {}
    for kind in kinds:
        kind_tables[kind.name], columns[kind.name] = _kind_table(md, kind, tables)
    _, placement_columns = _placements_table(md)
    _engine_tables(md)
    return Schema(md, kind_tables, columns, placement_columns)


SCHEMA = build_schema(KINDS)
metadata = SCHEMA.metadata
KIND_TABLES = SCHEMA.kind_tables
SPEC_COLUMNS = SCHEMA.spec_columns
tenants = metadata.tables["tenants"]
api_keys = metadata.tables["api_keys"]
placements = metadata.tables["placements"]
audit_logs = metadata.tables["audit_logs"]
gitops_state = metadata.tables["gitops_state"]
gitops_locks = metadata.tables["gitops_locks"]
drift_reports = metadata.tables["drift_reports"]
