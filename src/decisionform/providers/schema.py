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

import base64
import re
import secrets
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from annotated_types import MaxLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
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

from decisionform.bundle import specs
from decisionform.bundle.kinds import KINDS, PLACEMENT, KindDef, RefPath

ID_LENGTH = 40
PLACEMENT_PREFIX = "plc"
TENANT_PREFIX = "ten"
# Spec fields every kind has; they live in the common columns.
COMMON_SPEC_FIELDS = ("description", "status")
# Spec lists stored as rows of a child table instead of a column of the kind's
# table: a channel's placements are addressable on their own (creatives and
# scopes reference them by id), so they need ids of their own.
CHILD_FIELDS: dict[str, str] = {"Channel": "placements"}

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


def make_id(prefix: str) -> str:
    """An opaque id: the prefix and 20 random base32 characters (100 bits)."""
    return f"{prefix}_" + base64.b32encode(secrets.token_bytes(13)).decode("ascii")[:20].lower()


def placement_key(channel: str, placement: str) -> str:
    """How id maps key a placement: the two names joined by NUL, which no name may hold.
    Not "/": names may hold that, and channel "A" with placement "B/C" must not meet
    channel "A/B" with placement "C" (``placement_ref`` is the "/" form bundles write)."""
    return f"{channel}\x00{placement}"


def placement_ref(channel: str, placement: str) -> str:
    """A placement as a bundle refers to it: ``Channel/Placement``."""
    return f"{channel}/{placement}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def snake(name: str) -> str:
    """``customFields`` -> ``custom_fields``; ``schema_`` (alias) stays ``schema``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower().rstrip("_")


@dataclass(frozen=True)
class SpecColumn:
    """One top-level spec field stored in its own column."""

    key: str  # the spec key (the alias when the field has one)
    column: str  # the column name
    json: bool  # stored as JSON (lists, mappings, sub-models)
    default: Any  # stored when the spec omits the field
    ref: RefPath | None = None  # a reference stored as an id (foreign key)


# ------------------------------------------------------------ type mapping
def _unwrap_optional(annotation: Any) -> Any:
    """``int | None`` -> ``int``; anything else unchanged."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _sql_type(info: FieldInfo) -> TypeEngine[Any]:
    annotation = _unwrap_optional(info.annotation)
    if typing.get_origin(annotation) is Literal:
        values = [str(v) for v in typing.get_args(annotation)]
        return String(max(32, *(len(v) for v in values)))
    if annotation is bool:  # before int: bool is a subclass of int
        return Boolean()
    if annotation is int:
        return Integer()
    if annotation is float:
        return Float()
    if annotation is str:
        lengths = [m.max_length for m in info.metadata if isinstance(m, MaxLen)]
        return String(lengths[0]) if lengths and lengths[0] <= 255 else Text()
    return JsonType


def _default(info: FieldInfo) -> Any:
    # The platform reads these tables too: store [] / {} rather than NULL for
    # an omitted collection, as its own UI would.
    if info.is_required():
        return None
    return info.get_default(call_default_factory=True)


def spec_columns(model: type[BaseModel], refs: tuple[RefPath, ...] = (), skip: tuple[str, ...] = (),
                 tables: dict[str, str] | None = None) -> tuple[tuple[SpecColumn, Column[Any]], ...]:
    """The (mapping, column) pairs for the top-level fields of ``model``.

    ``tables`` maps a reference's target kind to its table (for foreign keys).
    """
    column_refs = {ref.path: ref for ref in refs if ref.column}
    targets = {**(tables or {}), PLACEMENT: "placements"}
    out = []
    for field_name, info in model.model_fields.items():
        key = info.alias or field_name
        if key in skip:
            continue
        ref = column_refs.get(key)
        if ref is not None:
            col = Column(f"{snake(key)}_id", String(ID_LENGTH), ForeignKey(f"{targets[ref.target]}.id"))
            out.append((SpecColumn(key, col.name, False, None, ref), col))
            continue
        sql_type = _sql_type(info)
        col = Column(snake(key), sql_type, nullable=True)
        out.append((SpecColumn(key, col.name, sql_type is JsonType, _default(info)), col))
    return tuple(out)


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
    skip = (*COMMON_SPEC_FIELDS, *filter(None, [CHILD_FIELDS.get(kind.name)]))
    pairs = spec_columns(kind.spec_model, kind.refs, skip, tables)
    # ``metrics`` is a system column (running counters the platform keeps):
    # it is never part of a spec, and the reader never looks at it.
    system = [Column("metrics", JsonType, nullable=True)]
    table = Table(kind.table, md, *_common_columns(), *(c for _, c in pairs), *system)
    _live_unique(table, "tenant_id", "name")
    for field_name in kind.unique_fields:
        _live_unique(table, "tenant_id", snake(field_name))
    Index(None, table.c.tenant_id)
    return table, tuple(m for m, _ in pairs)


def _placements_table(md: MetaData) -> tuple[Table, tuple[SpecColumn, ...]]:
    pairs = spec_columns(specs.Placement, skip=("name", "description"))
    table = Table(
        "placements", md,
        _id(),
        _tenant_fk(),
        Column("channel_id", String(ID_LENGTH), ForeignKey("channels.id"), nullable=False),
        Column("name", String(255), nullable=False),
        Column("position", Integer(), nullable=False, server_default=text("0")),
        Column("description", Text(), nullable=True),
        *(c for _, c in pairs),
        Column("version", Integer(), nullable=False, server_default=text("1")),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("deleted_at", nullable=True),
    )
    _live_unique(table, "channel_id", "name")
    Index(None, table.c.tenant_id)
    return table, tuple(m for m, _ in pairs)


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
        Column("document", JsonType, nullable=False),
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
PLACEMENT_COLUMNS = SCHEMA.placement_columns
tenants = metadata.tables["tenants"]
api_keys = metadata.tables["api_keys"]
placements = metadata.tables["placements"]
audit_logs = metadata.tables["audit_logs"]
gitops_state = metadata.tables["gitops_state"]
gitops_locks = metadata.tables["gitops_locks"]
drift_reports = metadata.tables["drift_reports"]
