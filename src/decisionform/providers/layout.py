"""Which spec key lives in which column, and how it is typed: the layout of the kind tables.

Derived from the kinds registry and its pydantic models alone, without SQLAlchemy: the
hot read path (``read.py``, ``live.py``) needs the layout but not the SQL toolkit, whose
import alone costs more than reading 10,000 rows. ``schema.py`` builds the SQLAlchemy
tables (and so the Alembic migrations) from this same layout, so the two cannot drift.
"""

from __future__ import annotations

import re
import secrets
import types
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from annotated_types import MaxLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from decisionform.bundle import specs
from decisionform.bundle.kinds import KINDS, PLACEMENT, RefPath

ID_LENGTH = 40
PLACEMENT_PREFIX = "plc"
TENANT_PREFIX = "ten"
# Spec fields every kind has; they live in the common columns.
COMMON_SPEC_FIELDS = ("description", "status")
# Spec lists stored as rows of a child table instead of a column of the kind's
# table: a channel's placements are addressable on their own (creatives and
# scopes reference them by id), so they need ids of their own.
CHILD_FIELDS: dict[str, str] = {"Channel": "placements"}

ColumnType = Literal["id", "string", "text", "integer", "float", "boolean", "json"]


_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648's alphabet, lower case
_BASE32_PAIRS = tuple(a + b for a in _BASE32 for b in _BASE32)  # every 10 bits as two characters
_SHIFTS = tuple(range(90, -10, -10))


def make_id(prefix: str) -> str:
    """An opaque id: the prefix and 20 random base32 characters (100 bits).

    The same ids as ``base64.b32encode(13 random bytes)[:20].lower()``, encoded by table:
    an apply of 10,000 creates makes 10,000 of them, and base64's encoder is pure Python.
    """
    bits = int.from_bytes(secrets.token_bytes(13)) >> 4
    pairs = _BASE32_PAIRS
    return f"{prefix}_" + "".join([pairs[(bits >> shift) & 1023] for shift in _SHIFTS])


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
    type: ColumnType = "text"  # the SQL type (schema.py maps it to SQLAlchemy's)
    length: int | None = None  # of a "string" column
    target_table: str | None = None  # of an "id" column: the table its foreign key points to


def _unwrap_optional(annotation: Any) -> Any:
    """``int | None`` -> ``int``; anything else unchanged."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def column_type(info: FieldInfo) -> tuple[ColumnType, int | None]:
    """The SQL type of a spec field's column, and a string column's length."""
    annotation = _unwrap_optional(info.annotation)
    if typing.get_origin(annotation) is Literal:
        values = [str(v) for v in typing.get_args(annotation)]
        return "string", max(32, *(len(v) for v in values))
    if annotation is bool:  # before int: bool is a subclass of int
        return "boolean", None
    if annotation is int:
        return "integer", None
    if annotation is float:
        return "float", None
    if annotation is str:
        lengths = [m.max_length for m in info.metadata if isinstance(m, MaxLen)]
        return ("string", lengths[0]) if lengths and lengths[0] <= 255 else ("text", None)
    return "json", None


def _default(info: FieldInfo) -> Any:
    # The platform reads these tables too: store [] / {} rather than NULL for
    # an omitted collection, as its own UI would.
    if info.is_required():
        return None
    return info.get_default(call_default_factory=True)


def spec_columns(model: type[BaseModel], refs: tuple[RefPath, ...] = (), skip: tuple[str, ...] = (),
                 tables: dict[str, str] | None = None) -> tuple[SpecColumn, ...]:
    """The columns of the top-level fields of ``model``.

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
            out.append(SpecColumn(key, f"{snake(key)}_id", False, None, ref, type="id", length=ID_LENGTH,
                                  target_table=targets[ref.target]))
            continue
        sql_type, length = column_type(info)
        out.append(SpecColumn(key, snake(key), sql_type == "json", _default(info), type=sql_type, length=length))
    return tuple(out)


def kind_spec_columns(kind: Any, tables: dict[str, str]) -> tuple[SpecColumn, ...]:
    skip = (*COMMON_SPEC_FIELDS, *filter(None, [CHILD_FIELDS.get(kind.name)]))
    return spec_columns(kind.spec_model, kind.refs, skip, tables)


KIND_TABLE_NAMES: dict[str, str] = {k.name: k.table for k in KINDS}
SPEC_COLUMNS: dict[str, tuple[SpecColumn, ...]] = {k.name: kind_spec_columns(k, KIND_TABLE_NAMES) for k in KINDS}
PLACEMENT_COLUMNS: tuple[SpecColumn, ...] = spec_columns(specs.Placement, skip=("name", "description"))
