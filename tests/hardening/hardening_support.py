"""Shared by the hardening tests (issue 7) and ``killtest.py``.

- ``table_snapshot``: every row of every table but the lease table, read with
  plain SQL (not through decisionform), for "exactly as before" comparisons;
  ``normalised`` masks what legitimately differs between two equal applies
  (generated ids, timestamps, the audit chain's hashes; see its docstring);
- ``DatabaseCopies``: a database built once and copied per case (a SQLite file
  copy, PostgreSQL ``CREATE DATABASE … TEMPLATE``), keeping the working
  database's name so that plans made against it stay valid for every copy;
- the bundles: Northwind (51 resources, all nine kinds) and a second bundle on
  top of it that creates, updates and (with ``--prune``) deletes at once, with
  the changes it makes spelt out independently of the engine;
- ``watching_sql``: what a process sends to its databases, statement by statement
  (shared by the fault injection and by the kill test's child process);
- ``audit_chain``: the engine's own chain check (there is no CLI command for
  it; the API's ``/audit-logs/verify`` calls the same ``Engine.verify_audit``).
"""

from __future__ import annotations

import copy
import json
import os
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml_rs
from psycopg import sql as pgsql
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.pool import NullPool

from decisionform.audit import ChainCheck
from decisionform.bundle.kinds import KINDS
from decisionform.engine import Engine, Settings
from decisionform.providers.schema import UTCDateTime, metadata
from support import NORTHWIND

KIND_TABLE = {k.name: k.table for k in KINDS}
# Everything the engine writes but the lease table (checked on its own: a lease is
# expected to come and go, and a dead holder's lease is expected to stay until it expires).
TABLES = sorted(name for name in metadata.tables if name != "gitops_locks")
# Generated values: row ids (schema.make_id: a prefix and 20 base32 characters), plan ids, the state lineage.
GENERATED = re.compile(r"\b(?:[a-z]{2,4}_[a-z2-7]{20}|pln_[0-9a-f]{20}|"
                       r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
MASKED_COLUMNS = {("audit_logs", "prev_hash"), ("audit_logs", "integrity_hash")}

Snapshot = dict[str, list[dict[str, Any]]]


# ------------------------------------------------------------------ snapshots
def table_snapshot(url: str) -> Snapshot:
    """Every row of every table (but ``gitops_locks``), all columns, in primary-key order."""
    engine = create_engine(url, poolclass=NullPool)
    out: Snapshot = {}
    try:
        with engine.connect() as conn:
            for name in TABLES:
                table = metadata.tables[name]
                cols = [c.name for c in table.columns]
                order = ", ".join(f'"{c.name}"' for c in table.primary_key.columns)
                select = f"SELECT {', '.join(chr(34) + c + chr(34) for c in cols)} FROM {name} ORDER BY {order}"
                out[name] = [dict(zip(cols, row, strict=True)) for row in conn.exec_driver_sql(select)]
    finally:
        engine.dispose()
    return out


def lease_rows(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.exec_driver_sql("SELECT * FROM gitops_locks").mappings()]
    finally:
        engine.dispose()


def normalised(snap: Snapshot) -> Snapshot:
    """``snap`` with what two equal applies may legitimately differ in masked.

    Masked: (1) ids generated for new rows (random per run by design, DESIGN §3):
    each id becomes ``<table:name>`` wherever it appears — the row's own id, foreign
    keys, ids inside JSON (flow nodes, policy configs), the state document; (2)
    timestamps (``now`` of each run) become ``<set>`` — their presence still counts,
    so a soft delete without ``deleted_at`` is caught; (3) the state lineage (a
    new uuid when the first apply creates the state) and plan ids, which become
    their rank in the state's ``applied_plan_ids`` (``apply --auto-approve`` makes
    a new plan id each time; the plan a row belongs to must still match); (4) the audit chain's hashes,
    which cover ``created_at`` (the chain is verified separately) and (5) audit row
    ids, which become their rank: PostgreSQL sequences are not transactional, so a
    rolled-back apply legitimately uses up ids. Everything else — every name,
    every spec column, every JSON value, every ``version``, every audit row's
    action, entity, before/after and plan id, the state's serial, resources,
    digests and applied plan ids — must be equal.
    """
    labels: dict[str, str] = {}
    for table in [*KIND_TABLE.values(), "tenants"]:
        for row in snap.get(table, []):
            labels[row["id"]] = f"<{table}:{row['name']}>"
    for row in snap.get("placements", []):
        labels[row["id"]] = f"<placements:{labels.get(row['channel_id'], row['channel_id'])}/{row['name']}>"
    for row in snap.get("gitops_state", []):
        labels[row["lineage"]] = "<lineage>"
        for rank, plan_id in enumerate(json_value(row["applied_plan_ids"])):
            labels[plan_id] = f"<plan:{rank}>"

    def value(table: str, col: Any, v: Any) -> Any:
        if v is None:
            return None
        if isinstance(col.type, UTCDateTime):
            return "<set>"
        if (table, col.name) in MASKED_COLUMNS:
            return "<hash>"
        text = v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
        text = GENERATED.sub(lambda m: labels.get(m.group(0), m.group(0)), text)
        return text if isinstance(v, str) else (text, type(v).__name__)

    out: Snapshot = {}
    for table, rows in snap.items():
        columns = metadata.tables[table].columns
        out[table] = []
        for rank, row in enumerate(rows):
            new = {c.name: value(table, c, row[c.name]) for c in columns}
            if table == "audit_logs":
                new["id"] = rank
            out[table].append(new)
        out[table].sort(key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def diff_tables(a: Snapshot, b: Snapshot) -> list[str]:
    """Which tables differ, with a short hint (for assertion messages)."""
    out = []
    for table in sorted(set(a) | set(b)):
        ra, rb = a.get(table, []), b.get(table, [])
        if ra != rb:
            extra = [r for r in rb if r not in ra][:2]
            missing = [r for r in ra if r not in rb][:2]
            out.append(f"{table}: {len(ra)} vs {len(rb)} rows; only before/expected: {missing}; "
                       f"only after: {extra}")
    return out


def live_rows(snap: Snapshot, kind: str) -> dict[str, dict[str, Any]]:
    """``name -> row`` of the live (not soft-deleted) rows of ``kind``; a name twice is an error."""
    rows = [r for r in snap[KIND_TABLE[kind]] if r["deleted_at"] is None]
    names = Counter(r["name"] for r in rows)
    assert all(n == 1 for n in names.values()), f"duplicate live {kind} rows: {names.most_common(3)}"
    return {r["name"]: r for r in rows}


def state_row(snap: Snapshot) -> dict[str, Any] | None:
    rows = snap["gitops_state"]
    assert len(rows) <= 1
    return rows[0] if rows else None


def json_value(v: Any) -> Any:
    """A JSON column as Python (SQLite hands back text, psycopg a parsed value)."""
    return json.loads(v) if isinstance(v, str) else v


def audit_chain(url: str, tenant: str = "acme") -> ChainCheck:
    engine = Engine(Settings(database_url=url, tenant=tenant))
    try:
        return engine.verify_audit()
    finally:
        engine.close()


# ------------------------------------------------------------------ what a process sends
COMMIT = "COMMIT"  # a commit is about to be sent (``TX COMMITTED``: it returned)


def statement_label(statement: str) -> str:
    """``INSERT offers``, ``SELECT gitops_state``, ``BEGIN IMMEDIATE`` …: enough to tell positions apart."""
    words = statement.split()
    verb = words[0].upper()
    if verb == "BEGIN":
        return " ".join(words).upper()
    if verb == "COPY":  # PostgreSQL bulk insert: COPY table (columns) FROM STDIN
        return f"COPY {words[1].strip(chr(34))}"
    m = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", statement, re.IGNORECASE)
    return f"{verb} {m.group(1) if m else '?'}"


@contextmanager
def watching_sql(on_event: Callable[[str], None]) -> Iterator[None]:
    """Call ``on_event`` for what this thread sends through any SQLAlchemy engine.

    Events: each statement's ``statement_label`` (from ``before_cursor_execute``,
    which decisionform's COPY path also fires), ``COMMIT`` before each commit (the
    dialect's ``do_commit``; commits are not statements), and ``TX COMMITTED``,
    ``TX ROLLBACK``, ``TX BEGIN write|read`` around them. An exception that
    ``on_event`` raises for a statement or a ``COMMIT`` takes the place of the
    database call, and SQLAlchemy wraps it as it wraps any driver error. Other
    threads (the lease's renewal timer) are not reported.
    """
    thread = threading.get_ident()

    def emit(label: str) -> None:
        if threading.get_ident() == thread:
            on_event(label)

    def statement(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        emit(statement_label(text))

    def begin(conn: Any) -> None:
        # ``df_write``: how decisionform's Database marks its write transactions (BEGIN IMMEDIATE on SQLite)
        emit("TX BEGIN " + ("write" if conn.get_execution_options().get("df_write") else "read"))

    def rollback(_conn: Any) -> None:
        emit("TX ROLLBACK")

    real_commit = DefaultDialect.do_commit

    def do_commit(dialect: DefaultDialect, dbapi_connection: Any) -> None:
        emit(COMMIT)
        real_commit(dialect, dbapi_connection)
        emit("TX COMMITTED")

    listeners = [("before_cursor_execute", statement), ("begin", begin), ("rollback", rollback)]
    for name, fn in listeners:
        event.listen(SqlEngine, name, fn)
    DefaultDialect.do_commit = do_commit  # type: ignore[method-assign]
    try:
        yield
    finally:
        DefaultDialect.do_commit = real_commit  # type: ignore[method-assign]
        for name, fn in listeners:
            event.remove(SqlEngine, name, fn)


# ------------------------------------------------------------------ copies of a database
class DatabaseCopies:
    """Copy a database (nothing may be connected to it), or make one an exact copy of another again.

    ``new_db_url`` makes a fresh database of the backend (conftest's factory, or killtest's own);
    ``admin`` is an autocommit connection to the PostgreSQL server (None for SQLite).
    """

    def __init__(self, backend: str, new_db_url: Callable[[], str], admin: psycopg.Connection | None) -> None:
        self.backend = backend
        self.new_db_url = new_db_url
        self.admin = admin

    @staticmethod
    def _path(url: str) -> Path:
        return Path(url.removeprefix("sqlite:///"))

    @staticmethod
    def _name(url: str) -> pgsql.Identifier:
        return pgsql.Identifier(url.rsplit("/", 1)[1])

    def save(self, work_url: str, into: str | None = None) -> str:
        """A copy of ``work_url`` (into ``into``, replacing it, or a new database); returns its URL."""
        copy_url = into or self.new_db_url()
        self.restore(work_url, copy_url)
        return copy_url

    def restore(self, saved_url: str, work_url: str) -> None:
        """Make ``work_url`` an exact copy of ``saved_url`` (its name, so its identity, kept)."""
        if self.backend == "sqlite":
            path = self._path(work_url)
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            with closing(sqlite3.connect(self._path(saved_url))) as src, closing(sqlite3.connect(path)) as dst:
                src.backup(dst)
            return
        assert self.admin is not None
        self.admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(self._name(work_url)))
        for attempt in range(100):  # a killed client's server process may take a moment to go
            try:
                self.admin.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    self._name(work_url), self._name(saved_url)))
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 99:
                    raise
                time.sleep(0.1)


class RowCopies:
    """PostgreSQL, faster than ``DatabaseCopies`` (0.05 s instead of 0.4 s a restore, which adds up
    over a hundred positions): the rows of every table are kept in a schema of the same database
    and put back in one transaction (TRUNCATE, INSERT … SELECT in foreign-key order, the serial
    sequences set back). Same interface as ``DatabaseCopies`` for a database restored onto itself.
    The engine only reads and writes the public schema. A restore that missed anything shows up
    at once: the first check after every failed apply is "every table exactly as before"."""

    SCHEMA = "df_saved_rows"

    def __init__(self) -> None:
        self.sequences: dict[str, tuple[str, int, bool]] = {}

    @staticmethod
    def _tables() -> list[str]:
        return [t.name for t in metadata.sorted_tables]  # parents before children

    def save(self, work_url: str) -> str:
        with psycopg.connect(work_url.replace("+psycopg", "")) as conn:
            conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(self.SCHEMA)))
            for table in self._tables():
                conn.execute(pgsql.SQL("CREATE TABLE {}.{} AS TABLE public.{}").format(
                    pgsql.Identifier(self.SCHEMA), pgsql.Identifier(table), pgsql.Identifier(table)))
                if "id" not in metadata.tables[table].c:
                    continue
                seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", [f"public.{table}"]).fetchone()
                if seq and seq[0]:
                    last, called = conn.execute(pgsql.SQL("SELECT last_value, is_called FROM {}").format(
                        pgsql.SQL(seq[0]))).fetchone()  # type: ignore[misc]
                    self.sequences[table] = (seq[0], last, called)
        return work_url

    def restore(self, saved_url: str, work_url: str) -> None:
        assert saved_url == work_url, "RowCopies restores a database onto itself"
        with psycopg.connect(work_url.replace("+psycopg", "")) as conn:
            tables = pgsql.SQL(", ").join(pgsql.SQL("public.{}").format(pgsql.Identifier(t))
                                          for t in self._tables())
            conn.execute(pgsql.SQL("TRUNCATE {}").format(tables))
            for table in self._tables():
                conn.execute(pgsql.SQL("INSERT INTO public.{} SELECT * FROM {}.{}").format(
                    pgsql.Identifier(table), pgsql.Identifier(self.SCHEMA), pgsql.Identifier(table)))
            for name, last, called in self.sequences.values():
                conn.execute("SELECT setval(%s, %s, %s)", [name, last, called])


# ------------------------------------------------------------------ bundles
def northwind() -> dict[str, Any]:
    return yaml_rs.loads(NORTHWIND.read_text(), parse_datetime=False)


def _find(doc: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    [found] = [r for r in doc["resources"] if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def _res(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "decisionform/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


# What the second bundle changes relative to Northwind, written out by hand.
SECOND_CREATES = [("Offer", "Fault Line Saver"), ("Creative", "Fault Line Saver - App Card"),
                  ("QualificationRule", "Fault Line Tenure")]
SECOND_UPDATES = [("Channel", "Website"), ("Offer", "Green Auto Loan"), ("ContactPolicy", "Quiet Hours"),
                  ("DecisionFlow", "Mobile App Home")]
SECOND_DELETES = [("Creative", "Savings - Direct Mail"), ("QualificationRule", "Refinance Propensity Floor"),
                  ("ContactPolicy", "Savings Rest Period")]


def second_bundle() -> dict[str, Any]:
    """Northwind with 3 resources added, 4 changed (one of them a channel's placements) and 3 dropped."""
    doc = copy.deepcopy(northwind())
    _find(doc, "Offer", "Green Auto Loan")["spec"]["priority"] = 56
    website = _find(doc, "Channel", "Website")["spec"]
    website["placements"][1]["maxSlots"] = 3  # Checkout Sidebar: a placement updated
    website["placements"].append({"name": "Footer Strip", "slotType": "inline", "maxSlots": 1})  # and one added
    _find(doc, "ContactPolicy", "Quiet Hours")["spec"]["config"]["endHour"] = 20
    flow = _find(doc, "DecisionFlow", "Mobile App Home")["spec"]
    next(n for n in flow["nodes"] if n["id"] == "rk")["config"]["maxCandidates"] = 4
    doc["resources"] = [r for r in doc["resources"]
                        if (r["kind"], r["metadata"]["name"]) not in SECOND_DELETES]
    doc["resources"] += [
        _res("Offer", "Fault Line Saver", {"category": "Savings", "status": "active", "priority": 45,
                                           "tags": ["savings", "hardening"]}),
        _res("Creative", "Fault Line Saver - App Card", {
            "offer": "Fault Line Saver", "channel": "Mobile App", "placement": "Home Carousel",
            "status": "active", "templateType": "in_app_card", "content": {"headline": "Save more"}}),
        _res("QualificationRule", "Fault Line Tenure", {
            "status": "active", "ruleType": "attribute_condition", "stage": "fit", "priority": 20,
            "config": {"attribute": "tenure_months", "operator": "gte", "value": 6},
            "scopes": [{"scope": "offer", "target": "Fault Line Saver"}]}),
    ]
    return doc


def write_bundle(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc))
    return path


def kind_counts(doc: dict[str, Any]) -> Counter[str]:
    return Counter(r["kind"] for r in doc["resources"])


def placement_count(doc: dict[str, Any]) -> int:
    return sum(len(r["spec"].get("placements", [])) for r in doc["resources"] if r["kind"] == "Channel")


# The heavier variants (as in H06/H07): `DECISIONFORM_STRESS=1 pytest -m slow tests/hardening`.
STRESS = pytest.mark.skipif(not os.environ.get("DECISIONFORM_STRESS"), reason="set DECISIONFORM_STRESS=1")
