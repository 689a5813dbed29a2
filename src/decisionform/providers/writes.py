"""Writing changes in bulk: names to ids, a fixed number of statements.

Per kind and operation there is one ``executemany`` (creates, restores,
updates, soft deletes), plus a few for the placements of written channels,
so the statement count does not grow with the number of resources
(DESIGN §9: no query per resource). Creates and updates run in registry
order (a kind's foreign keys only point at kinds before it), deletes in
reverse; deletes are soft, so they never break a foreign key.

Every update and delete is guarded by the version seen at plan time; when a
guarded ``executemany`` touches fewer rows than meant, the rows that moved
are looked up and reported as a ``StalePlanError`` (the caller's
transaction then rolls everything back).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

import orjson
from sqlalchemy import (
    Connection,
    CursorResult,
    Integer,
    Row,
    Table,
    Update,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from decisionform.bundle.kinds import KIND_BY_NAME, KINDS, PLACEMENT, KindDef, RefPath, resolve_kind
from decisionform.bundle.model import Resource, normalize_name
from decisionform.bundle.references import split_placement_ref
from decisionform.errors import DatabaseError, StalePlanError, UsageError, quote_address
from decisionform.providers.schema import (
    KIND_TABLES,
    PLACEMENT_COLUMNS,
    PLACEMENT_PREFIX,
    SPEC_COLUMNS,
    make_id,
    placement_key,
    placements,
)

Op = Literal["create", "update", "delete"]
GuardMode = Literal["update", "restore", "delete"]


@dataclass
class Write:
    op: Op
    kind: str
    name: str
    resource: Resource | None  # desired canonical resource (create/update)
    id: str | None = None  # live id (update/delete); for create: a soft-deleted row's id to restore
    expected_version: int | None = None  # update/delete: the version seen at plan time


@dataclass
class IdMap:
    """name -> id per kind (``PLACEMENT`` keys are ``Channel/Placement``).

    ``restore`` holds the ids of soft-deleted rows that creates bring back
    (UPDATE instead of INSERT, so the row keeps its id).
    """

    ids: dict[str, dict[str, str]] = field(default_factory=dict)
    restore: set[str] = field(default_factory=set)

    def get(self, kind: str, name: str) -> str | None:
        return self.ids.get(kind, {}).get(name)

    def set(self, kind: str, name: str, row_id: str) -> None:
        self.ids.setdefault(kind, {})[name] = row_id


def id_for(ids: IdMap, kind: str, name: str) -> str:
    """The id ``ids`` gives ``kind``/``name`` (e.g. to record in state after a write)."""
    found = ids.get(kind, name)
    if found is None:
        raise DatabaseError(f"{quote_address(kind, name)}: no id assigned")
    return found


def new_id(kind_or_placement: str) -> str:
    """A fresh opaque id for a row of ``kind_or_placement`` (``off_…``, ``plc_…``)."""
    if kind_or_placement == PLACEMENT:
        return make_id(PLACEMENT_PREFIX)
    kind = resolve_kind(kind_or_placement)
    if kind is None:
        raise UsageError(f"unknown kind {kind_or_placement!r}")
    return make_id(kind.id_prefix)


# PostgreSQL: from this many rows on, COPY is faster than a (pipelined) executemany.
COPY_MIN_ROWS = 200


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts with the same keys) as one statement: COPY on PostgreSQL
    for larger batches, otherwise one ``executemany``.

    Values are bound as SQLAlchemy binds them (each column type's own bind
    processor: JSON, UTC timestamps), but each processor is looked up once per
    batch and a timestamp every row shares (``now``) is converted once:
    SQLAlchemy's per-row parameter handling costs more than the insert itself.
    """
    if not rows:
        return
    dialect = conn.dialect
    compiled = insert(table).compile(dialect=dialect, column_keys=list(rows[0]))
    names = list(compiled.positiontup or ()) if compiled.positional else \
        [c.key for c in table.columns if c.key in rows[0]]
    processors = [compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
    converted: dict[int, Any] = {}  # id(datetime) -> bound value: rows share their timestamps
    values: list[tuple[Any, ...]] = []
    for row in rows:
        out = []
        for name, process in zip(names, processors, strict=True):
            value = row[name]
            if process is not None and value is not None:
                if type(value) is datetime:
                    key = id(value)
                    if key not in converted:
                        converted[key] = process(value)
                    value = converted[key]
                else:
                    value = process(value)
            out.append(value)
        values.append(tuple(out))
    if dialect.name == "postgresql" and len(values) >= COPY_MIN_ROWS:
        _copy(conn, table, names, values)
    elif compiled.positional:
        conn.exec_driver_sql(compiled.string, values)
    else:
        conn.exec_driver_sql(compiled.string, [dict(zip(names, v, strict=True)) for v in values])


def _copy(conn: Connection, table: Table, names: list[str], values: list[tuple[Any, ...]]) -> None:
    """``COPY table (names) FROM STDIN`` in the connection's transaction (psycopg)."""
    preparer = conn.dialect.identifier_preparer
    sql = f"COPY {preparer.format_table(table)} ({', '.join(preparer.quote(n) for n in names)}) FROM STDIN"
    dbapi = conn.dialect.loaded_dbapi
    try:
        with conn.connection.driver_connection.cursor() as cursor:
            # SQLAlchemy does not see this statement: tell its listeners (statement counts, logging).
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, sql, None, None, False)
            with cursor.copy(sql) as copy:
                for row in values:
                    copy.write_row(row)
    except dbapi.Error as exc:  # the driver's own error, as SQLAlchemy would have wrapped it
        raise DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@cache
def _json_ref_roots(kind_name: str) -> tuple[str, ...]:
    """Top-level spec keys holding references inside JSON (copied before rewriting)."""
    kind = KIND_BY_NAME[kind_name]
    return tuple(sorted({ref.steps[0].key or "" for ref in kind.refs if not ref.column}))


def _guarded_update(table: Any, columns: Sequence[str], mode: GuardMode) -> Update:
    """UPDATE one row by id, only if it is still as the plan saw it.

    The row is found by primary key alone: ids come from this tenant's own
    rows, and a ``tenant_id`` condition lets PostgreSQL pick the (tenant,
    name) index on a table without statistics, which turns a bulk update
    quadratic (a scan of the tenant's rows per row).
    """
    stmt = update(table).where(table.c.id == bindparam("w_id"))
    if mode == "restore":
        stmt = stmt.where(table.c.deleted_at.is_not(None))
    else:
        # A write without an expected version (None) is not version-guarded.
        expected = func.coalesce(bindparam("w_expected", type_=Integer()), table.c.version)
        stmt = stmt.where(table.c.deleted_at.is_(None), table.c.version == expected)
    values: dict[str, Any] = {c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns}
    values["version"] = table.c.version + 1
    return stmt.values(values)


def _why_moved(row: Row[Any] | None, write: Write, mode: GuardMode, now: datetime) -> str | None:
    if row is None:
        return "removed from the database since the plan"
    if row.updated_at == now:
        return None  # written by this apply
    if mode == "restore":
        return None if row.deleted_at is not None else "restored outside this plan since the plan"
    if row.deleted_at is not None:
        return "deleted since the plan"
    if write.expected_version is not None and row.version != write.expected_version:
        return f"changed since the plan (version {write.expected_version} then, {row.version} now)"
    return None


def _group(writes: list[Write]) -> dict[tuple[str, str], list[Write]]:
    groups: dict[tuple[str, str], list[Write]] = defaultdict(list)
    for write in writes:
        if write.kind not in KIND_BY_NAME:
            raise UsageError(f"unknown kind {write.kind!r}")
        if write.op not in ("create", "update", "delete"):
            raise UsageError(f"unknown write operation {write.op!r}")
        if write.op != "delete" and write.resource is None:
            raise UsageError(f"{quote_address(write.kind, write.name)}: a {write.op} needs the resource")
        groups[(write.kind, write.op)].append(write)
    return groups


class _Writer:
    """One ``apply_writes`` call: its connection, tenant, ids and timestamp."""

    def __init__(self, conn: Connection, tenant_id: str, ids: IdMap, now: datetime) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.ids = ids
        self.now = now
        # Dialects that cannot count executemany rows get a check before writing.
        self.counts_rows = bool(conn.dialect.supports_sane_multi_rowcount)

    # ------------------------------------------------------- names to ids
    def row_id(self, write: Write) -> str:
        row_id = write.id or self.ids.get(write.kind, write.name)
        if row_id is None:
            raise DatabaseError(f"{quote_address(write.kind, write.name)}: no id to {write.op} (not live)")
        return row_id

    def _ref_id(self, resource: Resource, ref: RefPath, name: str) -> str:
        # The qualifier comes from the resource, not the copy being rewritten
        # (where the channel may already be an id).
        key = name
        if ref.target == PLACEMENT:
            if ref.qualifier:  # the placement's bare name; its channel is the sibling field
                key = placement_key(resource.spec.get(ref.qualifier, ""), name)
            else:  # "Channel/Placement"
                split = split_placement_ref(name, lambda c, p: self.ids.get(PLACEMENT, placement_key(c, p)) is not None)
                key = placement_key(*split) if split else name
        found = self.ids.get(ref.target, key)
        if found is None:
            raise DatabaseError(f'{resource.quoted}.spec.{ref.path}: {ref.target} "{name}" is neither '
                                "written by this plan nor live in the database")
        return found

    def _with_ids(self, kind: KindDef, resource: Resource) -> dict[str, Any]:
        """A copy of the spec with every reference replaced by its id."""
        spec = dict(resource.spec)
        for key in _json_ref_roots(kind.name):
            if key in spec:  # deep copy of just the JSON that gets rewritten
                spec[key] = orjson.loads(orjson.dumps(spec[key]))
        for ref in kind.refs:
            ref.rewrite(spec, lambda name, ref=ref: self._ref_id(resource, ref, name))
        return spec

    def values(self, kind: KindDef, write: Write) -> dict[str, Any]:
        """Column values of ``write``'s resource (everything but identity and version)."""
        resource = write.resource
        assert resource is not None  # checked by _group
        spec = self._with_ids(kind, resource)
        out: dict[str, Any] = {
            "name": write.name,
            "description": spec.get("description"),
            "status": spec.get("status") or kind.default_status,
            "labels": dict(resource.labels),
            "annotations": dict(resource.annotations),
            "updated_at": self.now,
        }
        for col in SPEC_COLUMNS[kind.name]:
            value = spec.get(col.key)
            # Defaults are shared, never copied: parameters are only serialised.
            out[col.column] = col.default if value is None else value
        return out

    # ------------------------------------------------------- statements
    def create_and_update(self, kind: KindDef, creates: list[Write], updates: list[Write]) -> None:
        restores = [w for w in creates if self.row_id_or_none(w) in self.ids.restore]
        inserts = [w for w in creates if self.row_id_or_none(w) not in self.ids.restore]
        if inserts:
            self._insert(kind, inserts)
        if restores:
            self._guarded(kind, restores, "restore")
        if updates:
            self._guarded(kind, updates, "update")
        if kind.name == "Channel":
            self.sync_placements([*creates, *updates])

    def row_id_or_none(self, write: Write) -> str | None:
        return write.id or self.ids.get(write.kind, write.name)

    def _insert(self, kind: KindDef, writes: list[Write]) -> None:
        rows = []
        for write in writes:
            row = self.values(kind, write)
            row.update(id=self.row_id(write), tenant_id=self.tenant_id, version=1,
                       created_at=self.now, deleted_at=None)
            rows.append(row)
        bulk_insert(self.conn, KIND_TABLES[kind.name], rows)

    def _guarded(self, kind: KindDef, writes: list[Write], mode: GuardMode) -> None:
        table = KIND_TABLES[kind.name]
        params = []
        for write in writes:
            if mode == "delete":
                values: dict[str, Any] = {"deleted_at": self.now, "updated_at": self.now}
            else:
                values = self.values(kind, write)
                if mode == "restore":
                    values["deleted_at"] = None
            param = {f"v_{k}": v for k, v in values.items()}
            param.update(w_id=self.row_id(write), w_expected=write.expected_version)
            params.append(param)
        if not self.counts_rows:
            self._raise_if_moved(kind, writes, mode)
        result = self.conn.execute(_guarded_update(table, [k[2:] for k in params[0] if k.startswith("v_")],
                                                   mode), params)
        self._check_count(kind, writes, mode, result)

    def _check_count(self, kind: KindDef, writes: list[Write], mode: GuardMode,
                     result: CursorResult[Any]) -> None:
        if not self.counts_rows or result.rowcount == len(writes):
            return
        self._raise_if_moved(kind, writes, mode)
        # Every row looks fine now, yet fewer were written: someone raced us.
        raise StalePlanError([f"{kind.name}: {len(writes) - result.rowcount} of {len(writes)} rows "
                              "changed while this plan was being applied"])

    def _raise_if_moved(self, kind: KindDef, writes: list[Write], mode: GuardMode) -> None:
        table = KIND_TABLES[kind.name]
        query = select(table.c.id, table.c.version, table.c.deleted_at, table.c.updated_at)
        current = {row.id: row for row in self.conn.execute(query.where(table.c.tenant_id == self.tenant_id))}
        moved = []
        for write in writes:
            reason = _why_moved(current.get(self.row_id(write)), write, mode, self.now)
            if reason:
                moved.append(f"{quote_address(kind.name, write.name)}: {reason}")
        if moved:
            raise StalePlanError(moved)

    def delete(self, kind: KindDef, deletes: list[Write]) -> None:
        if not deletes:
            return
        self._guarded(kind, deletes, "delete")
        if kind.name == "Channel":
            self._delete_placements_of([self.row_id(w) for w in deletes])

    # ------------------------------------------------------- placements
    def sync_placements(self, channel_writes: list[Write]) -> None:
        """Make each written channel's placement rows match its spec, by name."""
        if not channel_writes:
            return
        live: dict[str, dict[str, Row[Any]]] = defaultdict(dict)
        query = select(placements).where(placements.c.tenant_id == self.tenant_id,
                                         placements.c.deleted_at.is_(None))
        for row in self.conn.execute(query):
            live[row.channel_id][normalize_name(row.name)] = row
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        removes: list[str] = []
        for write in channel_writes:
            channel_id = self.row_id(write)
            existing = dict(live.get(channel_id, {}))
            self._diff_placements(write, channel_id, existing, inserts, updates, removes)
            removes += [row.id for row in existing.values()]
        self._write_placements(inserts, updates, removes)

    def _diff_placements(self, write: Write, channel_id: str, existing: dict[str, Row[Any]],
                         inserts: list[dict[str, Any]], updates: list[dict[str, Any]],
                         removes: list[str]) -> None:
        assert write.resource is not None
        for position, spec in enumerate(write.resource.spec.get("placements") or []):
            key = placement_key(write.name, spec["name"])
            placement_id = self.ids.get(PLACEMENT, key)
            if placement_id is None:
                raise DatabaseError(f'Channel "{write.name}": placement "{spec["name"]}" has no id')
            values = _placement_values(spec, position)
            row = existing.pop(spec["name"], None)
            if row is not None and row.id != placement_id:
                removes.append(row.id)  # a different row holds the name: retire it
                row = None
            if row is None:
                inserts.append({**values, "id": placement_id, "tenant_id": self.tenant_id,
                                "channel_id": channel_id, "version": 1, "created_at": self.now,
                                "updated_at": self.now})
            elif any(row._mapping[k] != v for k, v in values.items()):
                updates.append({"w_id": placement_id, "v_updated_at": self.now,
                                **{f"v_{k}": v for k, v in values.items()}})

    def _write_placements(self, inserts: list[dict[str, Any]], updates: list[dict[str, Any]],
                          removes: list[str]) -> None:
        # Removals first: a re-added name must find the live-name index free.
        if removes:
            stmt = update(placements).where(placements.c.id == bindparam("w_id"),
                                            placements.c.deleted_at.is_(None))
            self.conn.execute(stmt.values(_soft_delete_values()),
                              [{"w_id": r, "v_now": self.now} for r in removes])
        if updates:
            columns = [k[2:] for k in updates[0] if k.startswith("v_")]
            stmt = update(placements).where(placements.c.id == bindparam("w_id"))
            values: dict[str, Any] = {c: bindparam(f"v_{c}", type_=placements.c[c].type) for c in columns}
            self.conn.execute(stmt.values({**values, "version": placements.c.version + 1}), updates)
        if inserts:
            bulk_insert(self.conn, placements, inserts)

    def _delete_placements_of(self, channel_ids: list[str]) -> None:
        # By channel id alone, for the index reason given in _guarded_update.
        stmt = update(placements).where(placements.c.channel_id == bindparam("w_channel"),
                                        placements.c.deleted_at.is_(None))
        self.conn.execute(stmt.values(_soft_delete_values()),
                          [{"w_channel": c, "v_now": self.now} for c in channel_ids])


def _soft_delete_values() -> dict[str, Any]:
    now = bindparam("v_now", type_=placements.c.deleted_at.type)
    return {"deleted_at": now, "updated_at": now, "version": placements.c.version + 1}


def _placement_values(spec: dict[str, Any], position: int) -> dict[str, Any]:
    values: dict[str, Any] = {"name": spec["name"], "description": spec.get("description"), "position": position}
    for col in PLACEMENT_COLUMNS:
        value = spec.get(col.key)
        values[col.column] = col.default if value is None else value
    return values


def apply_writes(conn: Connection, tenant_id: str, writes: list[Write], ids: IdMap, now: datetime) -> None:
    """Write ``writes`` in the caller's transaction, in dependency order.

    Names become ids through ``ids`` (see ``assign_ids``); a reference that
    ``ids`` cannot resolve raises ``DatabaseError`` naming the referrer and
    field. Rows that moved since the plan raise ``StalePlanError``.
    """
    writer = _Writer(conn, tenant_id, ids, _utc(now))
    groups = _group(writes)
    for kind in KINDS:
        writer.create_and_update(kind, groups.get((kind.name, "create"), []), groups.get((kind.name, "update"), []))
    for kind in reversed(KINDS):
        writer.delete(kind, groups.get((kind.name, "delete"), []))
