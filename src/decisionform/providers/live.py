"""Reading a tenant's live configuration in bulk (DESIGN §3, §9).

The database stores references as ids (foreign-key columns and ids inside
JSON); a bundle only ever holds names. ``read_live`` reads every table once
(never a query per row) and turns ids into names, so the planner compares
like with like. Rows the platform's UI edited may not validate or may point
at rows that were hard-deleted: those read back with a warning and a
readable marker instead of failing, because refresh and plan must still work
on a database that drifted (H11).

Writing (names back to ids, batched statements) is in ``writes.py``; its
public names are re-exported here, so ``live`` is the one import for both.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from decisionform.bundle.kinds import KIND_BY_NAME, KINDS, PLACEMENT, KindDef, RefPath, resolve_kind
from decisionform.bundle.model import (
    Resource,
    address,
    canonical_json,
    canonical_metadata,
    canonical_spec,
    format_path,
    json_digest,
    normalize_name,
    prune,
)
from decisionform.errors import UsageError, quote_address
from decisionform.providers.driver import Reader, as_reader
from decisionform.providers.layout import (
    CHILD_FIELDS,
    PLACEMENT_COLUMNS,
    SPEC_COLUMNS,
    SpecColumn,
    placement_key,
    placement_ref,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from decisionform.providers.writes import IdMap, Write

_WRITES = ("IdMap", "Write", "apply_writes", "id_for", "new_id")


def __getattr__(name: str) -> Any:
    # The writing side is re-exported (``live`` is the one import for both), but imported
    # only when asked for: it needs SQLAlchemy, which a plan (reads only) never loads.
    if name in _WRITES:
        from decisionform.providers import writes

        return getattr(writes, name)
    raise AttributeError(name)


__all__ = ["LiveRow", "LiveRows", "LiveSnapshot", "assign_ids", "build_live", "fetch_live", "missing_marker",
           "read_live"]


@dataclass
class LiveRow:
    kind: str
    name: str
    id: str
    version: int
    resource: Resource  # canonical: references as names (None for rows read_live(resources=...) left out)
    updated_at: datetime | None


@dataclass
class LiveSnapshot:
    rows: dict[str, LiveRow]  # by address "Kind.Name"; rows not soft-deleted
    deleted: dict[str, str]  # address -> id of the newest soft-deleted row (restore-on-create)
    placement_ids: dict[tuple[str, str], str]  # (channel, placement) -> id, live
    warnings: list[str]
    # kind -> name -> id of every live row read, including kinds read only to
    # name references (``kinds`` narrowed); PLACEMENT keys are "Channel/Placement".
    live_ids: dict[str, dict[str, str]] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[LiveRow]:
        return [row for row in self.rows.values() if row.kind == kind]


def missing_marker(target: str, ref_id: str) -> str:
    """What a reference to a row that no longer exists reads as."""
    return f"<missing {target} {ref_id}>"


class _Names:
    """id -> name for every row a snapshot may have to name."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str, bool]] = {}  # id -> (kind, name, deleted)
        self.placements: dict[str, tuple[str, str, bool]] = {}  # id -> (channel, placement, deleted)

    def add_rows(self, kind: str, rows: Sequence[Any]) -> None:
        # every query puts id, name, deleted_at first (``_query_kind``)
        for row in rows:
            self.rows[row[0]] = (kind, normalize_name(row[1]), row[_DELETED] is not None)

    def add_placements(self, rows: Sequence[Any]) -> None:
        for row in rows:
            kind, channel, channel_deleted = self.rows.get(row[_P_CHANNEL], ("", "", True))
            if kind != "Channel":
                channel = missing_marker("Channel", row[_P_CHANNEL])
            deleted = row[_DELETED] is not None or channel_deleted
            self.placements[row[0]] = (channel, normalize_name(row[1]), deleted)

    def live_ids(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {k.name: {} for k in KINDS}
        out[PLACEMENT] = {}
        for row_id, (kind, name, deleted) in self.rows.items():
            if not deleted:
                out[kind][name] = row_id
        for row_id, (channel, name, deleted) in self.placements.items():
            if not deleted:
                out[PLACEMENT][placement_key(channel, name)] = row_id
        return out

    def name(self, ref: RefPath, ref_id: str, where: tuple[str, str], warnings: list[str],
             qualifier: Any = None) -> str:
        """The name ``ref_id`` stands for; a marker and a warning when it is gone.

        ``where`` is the referrer (kind, name), spelt out only in a warning.
        ``qualifier`` is the (already named) sibling a qualified reference
        belongs to: a creative's placement must be one of its channel's.
        """
        found = self._lookup(ref, ref_id)
        if found is None:
            warnings.append(f"{_at(where, ref)}: {ref.target} {ref_id} no longer exists (removed outside "
                            f"decisionform); read as {missing_marker(ref.target, ref_id)!r}")
            return missing_marker(ref.target, ref_id)
        name, deleted = found
        if deleted:
            warnings.append(f'{_at(where, ref)}: refers to {ref.target} "{name}", which is deleted')
        owner = self.placements[ref_id][0] if ref.qualifier and ref.target == PLACEMENT else None
        if owner is not None and owner != qualifier:
            warnings.append(f'{_at(where, ref)}: placement "{name}" belongs to Channel "{owner}", '
                            f'not "{qualifier}"')
        return name

    def _lookup(self, ref: RefPath, ref_id: str) -> tuple[str, bool] | None:
        if ref.target == PLACEMENT:
            hit = self.placements.get(ref_id)
            if hit is None:
                return None
            channel, name, deleted = hit
            # A qualified reference (Creative.placement) holds the bare name;
            # its channel is the sibling field.
            return (name if ref.qualifier else placement_ref(channel, name)), deleted
        row = self.rows.get(ref_id)
        if row is None or row[0] != ref.target:
            return None
        return row[1], row[2]


# ------------------------------------------------------------------ reading
def _wanted(kinds: Collection[str] | None) -> list[KindDef]:
    if kinds is None:
        return list(KINDS)
    chosen = set()
    for name in kinds:
        kind = resolve_kind(name)
        if kind is None:
            raise UsageError(f"unknown kind {name!r}")
        chosen.add(kind.name)
    return [k for k in KINDS if k.name in chosen]


def _needed(wanted: list[KindDef]) -> tuple[set[str], bool]:
    """Kinds to read (wanted + referenced ones, for names) and whether placements are."""
    names = {k.name for k in wanted}
    targets = {ref.target for k in wanted for ref in k.refs}
    with_placements = PLACEMENT in targets or any(k.name in CHILD_FIELDS for k in wanted)
    if with_placements:
        targets.add("Channel")  # a placement is named after its channel
    return names | (targets - {PLACEMENT}), with_placements


# The columns every kind query reads first, in this order (positions below rely on it).
COMMON_READ = ("id", "name", "deleted_at", "description", "status", "labels", "annotations", "version",
               "updated_at")
_DELETED, _DESCRIPTION, _STATUS, _LABELS, _ANNOTATIONS, _VERSION, _UPDATED = 2, 3, 4, 5, 6, 7, 8
PLACEMENT_READ = ("id", "name", "deleted_at", "channel_id", "description")
_P_CHANNEL, _P_DESCRIPTION = 3, 4


def _query_kind(reader: Reader, kind: KindDef, tenant_id: str, full: bool) -> list[Any]:
    names = [*COMMON_READ, *(c.column for c in SPEC_COLUMNS[kind.name])] if full else ["id", "name", "deleted_at"]
    rows = reader.rows(f"SELECT {', '.join(names)} FROM {kind.table} WHERE tenant_id = ?", (tenant_id,))
    if not full:
        return rows
    decode = _decoders(reader, SPEC_COLUMNS[kind.name], len(COMMON_READ))
    return [_decoded(row, decode) for row in rows] if decode else rows


def _query_placements(reader: Reader, tenant_id: str) -> list[Any]:
    names = [*PLACEMENT_READ, *(c.column for c in PLACEMENT_COLUMNS)]
    rows = reader.rows(f"SELECT {', '.join(names)} FROM placements WHERE tenant_id = ? "
                       "ORDER BY channel_id, position, name", (tenant_id,))
    decode = _decoders(reader, PLACEMENT_COLUMNS, len(PLACEMENT_READ), common=False)
    return [_decoded(row, decode) for row in rows] if decode else rows


def _decoders(reader: Reader, columns: Sequence[SpecColumn], first: int,
              common: bool = True) -> tuple[tuple[int, Any], ...]:
    """(position, decode) for each column whose driver value is not the engine's value."""
    if reader.decoded:
        return ()
    out: list[tuple[int, Any]] = [(_DELETED, reader.decode_time)]
    if common:
        out += [(_LABELS, reader.decode_json), (_ANNOTATIONS, reader.decode_json), (_UPDATED, reader.decode_time)]
    for position, col in enumerate(columns, start=first):
        if col.type == "json":
            out.append((position, reader.decode_json))
        elif col.type == "boolean":
            out.append((position, reader.decode_boolean))
    return tuple(out)


def _decoded(row: Sequence[Any], decode: tuple[tuple[int, Any], ...]) -> list[Any]:
    values = list(row)
    for position, fn in decode:
        value = values[position]
        if value is not None:
            values[position] = fn(value)
    return values


def _placement_spec(row: Sequence[Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": normalize_name(row[1]), "description": row[_P_DESCRIPTION]}
    for position, col in enumerate(PLACEMENT_COLUMNS, start=len(PLACEMENT_READ)):
        spec[col.key] = row[position]
    return {k: v for k, v in spec.items() if v is not None and v != {} and v != []}  # read as absent


def _children(rows: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    """Live placements by channel id, in ``position`` order (the query's order)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row[_DELETED] is None:
            out.setdefault(row[_P_CHANNEL], []).append(_placement_spec(row))
    return out


def _at(where: tuple[str, str], ref: RefPath) -> str:
    return f"{quote_address(*where)}.spec.{ref.path}"


def _canonical(kind: KindDef, raw: dict[str, Any], where: tuple[str, str], warnings: list[str]) -> dict[str, Any]:
    try:
        return canonical_spec(kind, raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = format_path(tuple(first["loc"]))
        warnings.append(f"{quote_address(*where)}.spec{'.' + path if path else ''}: the live row does not "
                        f"match the spec ({first['msg']}); read as stored")
        return prune(raw)


@functools.cache
def _layout(kind_name: str) -> tuple[tuple[tuple[int, str], ...], str | None, tuple[tuple[RefPath, bool], ...]]:
    """How ``_resource`` reads a kind's rows: (query position, spec key) of each spec column,
    the child field, and the references (with whether each is a top-level field), qualified last."""
    columns = tuple((position, col.key)
                    for position, col in enumerate(SPEC_COLUMNS[kind_name], start=len(COMMON_READ)))
    refs = sorted(KIND_BY_NAME[kind_name].refs, key=lambda r: r.qualifier is not None)
    return columns, CHILD_FIELDS.get(kind_name), tuple((ref, ref.column) for ref in refs)


def _resource(kind: KindDef, row: Sequence[Any], name: str, names: _Names,
              children: dict[str, list[dict[str, Any]]], warnings: list[str],
              expected: Resource | str | None = None) -> Resource:
    where = (kind.name, name)
    columns, child, refs = _layout(kind.name)
    raw: dict[str, Any] = {"status": row[_STATUS]}
    if row[_DESCRIPTION] is not None:
        raw["description"] = row[_DESCRIPTION]
    # Spec columns follow the common ones in the query (``_query_kind``);
    # positional access is what keeps this loop cheap at 10k rows.
    for position, key in columns:
        value = row[position]
        if value is not None and value != {} and value != []:  # empty reads as absent (canonical form)
            # a REAL column gives 879.0 for 879: the canonical form's integer (as prune makes it)
            raw[key] = prune(value) if type(value) is float else value
    if child and row[0] in children:
        raw[child] = children[row[0]]
    # Foreign-key columns sit at their spec key as ids, so one pass over the
    # declared references names both those and the ids inside JSON; qualified
    # references go last, once the sibling they belong to reads as a name.
    for ref, top_level in refs:
        if top_level:  # no path to walk
            key = ref.path
            value = raw.get(key)
            if isinstance(value, str):
                raw[key] = names.name(ref, value, where, warnings, raw.get(ref.qualifier or ""))
        else:
            ref.rewrite(raw, lambda ref_id, ref=ref: names.name(
                ref, ref_id, where, warnings, raw.get(ref.qualifier or "")))
    labels, annotations = dict(row[_LABELS] or {}), dict(row[_ANNOTATIONS] or {})
    if expected is not None and not kind.secret_fields:
        # A row whose JSON (same keys, values and types) is that of a canonical body is in
        # canonical form already: skip validating and normalising it again. Most rows of a
        # plan or a refresh are such; any difference takes the full path below.
        data = canonical_json({"metadata": canonical_metadata(labels, annotations), "spec": raw})
        if isinstance(expected, Resource):
            if data == expected.body_json():  # the bundle's spec: the same, in canonical key order
                return Resource(kind.name, name, expected.spec, labels=labels, annotations=annotations,
                                _body_json=expected.body_json())  # one copy of the bytes, not two
        elif json_digest(data) == expected:  # keys in the database's order: fine to compare
            return Resource(kind.name, name, raw, labels=labels, annotations=annotations, _body_json=data)
    spec = _canonical(kind, raw, where, warnings)
    return Resource(kind.name, name, spec, labels=labels, annotations=annotations)


def _collect(snapshot: LiveSnapshot, kind: KindDef, rows: Sequence[Any], names: _Names,
             children: dict[str, list[dict[str, Any]]], resources: Collection[str] | None,
             expect: Mapping[str, Resource | str]) -> None:
    newest_deleted: dict[str, tuple[datetime, str]] = {}
    for row in sorted(rows, key=lambda r: (r[1], r[0])):
        row_id, raw_name, deleted_at = row[0], row[1], row[_DELETED]
        if deleted_at is not None:
            seen = newest_deleted.get(raw_name)
            if seen is None or deleted_at > seen[0]:
                newest_deleted[raw_name] = (deleted_at, row_id)
            continue
        name = normalize_name(raw_name)
        addr = address(kind.name, name)
        resource = _resource(kind, row, name, names, children, snapshot.warnings, expect.get(addr)) \
            if resources is None or addr in resources else None
        snapshot.rows[addr] = LiveRow(kind.name, name, row_id, row[_VERSION], resource, row[_UPDATED])
    for raw_name, (_, row_id) in newest_deleted.items():
        addr = address(kind.name, normalize_name(raw_name))
        if addr not in snapshot.rows:
            snapshot.deleted[addr] = row_id


@dataclass
class LiveRows:
    """The rows ``fetch_live`` read, before any is turned into a resource (``build_live``)."""

    wanted: list[KindDef]
    full: dict[str, Sequence[Any]]  # kind -> its rows (the wanted kinds in full, the others id and name)
    placements: Sequence[Any]


def fetch_live(conn: Connection | Reader, tenant_id: str, kinds: Collection[str] | None = None) -> LiveRows:
    """The tenant's rows of ``kinds`` (default: all), one query per table: the wanted kinds in
    full, the kinds they reference as (id, name) only, and placements when a channel or a
    placement reference is involved."""
    reader = as_reader(conn)
    wanted = _wanted(kinds)
    needed, with_placements = _needed(wanted)
    wanted_names = {k.name for k in wanted}
    full: dict[str, Sequence[Any]] = {}
    for kind in KINDS:
        if kind.name in needed:
            full[kind.name] = _query_kind(reader, kind, tenant_id, full=kind.name in wanted_names)
    return LiveRows(wanted, full, _query_placements(reader, tenant_id) if with_placements else [])


def build_live(fetched: LiveRows, *, resources: Collection[str] | None = None,
               expect: Mapping[str, Resource | str] | None = None) -> LiveSnapshot:
    """The snapshot of what ``fetch_live`` read, references as names (see ``read_live``)."""
    names = _Names()
    for kind_name, rows in fetched.full.items():
        names.add_rows(kind_name, rows)
    names.add_placements(fetched.placements)
    snapshot = LiveSnapshot(rows={}, deleted={}, placement_ids={}, warnings=[], live_ids=names.live_ids())
    for row_id, (channel, name, deleted) in names.placements.items():
        if not deleted:
            snapshot.placement_ids[(channel, name)] = row_id
    children = _children(fetched.placements)
    for kind in fetched.wanted:
        _collect(snapshot, KIND_BY_NAME[kind.name], fetched.full[kind.name], names, children, resources,
                 expect or {})
    return snapshot


def read_live(conn: Connection | Reader, tenant_id: str, kinds: Collection[str] | None = None, *,
              resources: Collection[str] | None = None,
              expect: Mapping[str, Resource | str] | None = None) -> LiveSnapshot:
    """The tenant's live rows of ``kinds`` (default: all), references as names.

    One query per table (``fetch_live``). With ``resources`` (addresses), only those rows
    get their canonical ``resource`` (the costly part); the others carry
    identity and version, and ``resource`` None (what apply's checks need).
    ``expect`` only saves work: a row that holds exactly what it expects is
    not normalised again. By address, a bundle's ``Resource`` (a match reads
    as that resource's spec), or the digest of a canonical body, e.g. the
    state's record (a match keeps the row's own key order: for callers that
    only compare, never for exports).
    """
    return build_live(fetch_live(conn, tenant_id, kinds), resources=resources, expect=expect)


# ------------------------------------------------------------------ ids
def assign_ids(snapshot: LiveSnapshot, writes: list[Write]) -> IdMap:
    """Ids for every name a set of writes may reference.

    Live rows keep their ids; a create takes the id of the newest
    soft-deleted row of that name (a restore) or a fresh one; placements
    that written channels add get fresh ids.
    """
    from decisionform.providers.writes import IdMap, new_id

    ids = IdMap(ids={kind: dict(names) for kind, names in snapshot.live_ids.items()})
    for write in writes:
        if write.op != "create":
            continue
        restored = write.id or snapshot.deleted.get(address(write.kind, write.name))
        if restored:
            ids.restore.add(restored)
        ids.set(write.kind, write.name, restored or new_id(write.kind))
    for write in writes:
        child = CHILD_FIELDS.get(write.kind)
        if write.op == "delete" or child is None or write.resource is None:
            continue
        for item in write.resource.spec.get(child) or []:
            key = placement_key(write.name, item["name"])
            if ids.get(PLACEMENT, key) is None:
                ids.set(PLACEMENT, key, new_id(PLACEMENT))
    return ids
