"""Helpers of the drift, prune and lock tests (issue 3).

- changes "behind the engine's back": SQL on a kind's table the way the
  platform UI would (new values, ``version`` + 1, ``updated_at`` now; a soft
  delete sets ``deleted_at``; or a hard ``DELETE``);
- reading a plan / drift document (``changes``, ``drift_items``);
- "nothing written" snapshots (export, state pull, lock list);
- real ``decisionform`` subprocesses started at once (the lock tests);
- a generated big bundle of Offers in Category "Credit Cards".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from decisionform.providers.database import Database
from decisionform.providers.schema import KIND_TABLES, audit_logs, gitops_locks, placements, tenants
from support import CliEnv, CliResult

ENTRY = Path(sys.executable).with_name("decisionform")
DB_ERRORS = ("database is locked", "deadlock", "serialization", "could not serialize", "database error",
             "Traceback", "unexpected")


# ------------------------------------------------------------------ SQL, as the platform UI would
def _tenant(conn: Any, tenant: str) -> str:
    return conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)).scalar_one()


def _live_row(table: Any, tid: str, name: str) -> Any:
    return (table.c.tenant_id == tid) & (table.c.name == name) & table.c.deleted_at.is_(None)


def sql_update(url: str, kind: str, name: str, /, tenant: str = "acme", **columns: Any) -> None:
    """Edit one live row of ``kind``: new column values, version + 1, updated_at now."""
    table = KIND_TABLES[kind]
    db = Database(url)
    try:
        with db.write() as conn:
            tid = _tenant(conn, tenant)
            result = conn.execute(update(table).where(_live_row(table, tid, name))
                                  .values(version=table.c.version + 1, updated_at=datetime.now(UTC), **columns))
            assert result.rowcount == 1, f"no live {kind} {name!r}"
    finally:
        db.dispose()


def sql_row(url: str, kind: str, name: str, tenant: str = "acme") -> dict[str, Any] | None:
    """The live row of ``kind`` named ``name`` (None when deleted or absent)."""
    table = KIND_TABLES[kind]
    db = Database(url)
    try:
        with db.read() as conn:
            tid = _tenant(conn, tenant)
            row = conn.execute(select(table).where(_live_row(table, tid, name))).mappings().first()
            return dict(row) if row is not None else None
    finally:
        db.dispose()


def sql_delete(url: str, kind: str, name: str, *, hard: bool, tenant: str = "acme") -> None:
    """Delete a row out of band: soft (``deleted_at`` now, version + 1) or a hard ``DELETE``."""
    table = KIND_TABLES[kind]
    db = Database(url)
    now = datetime.now(UTC)
    try:
        with db.write() as conn:
            tid = _tenant(conn, tenant)
            if hard:
                ids = [r for (r,) in conn.execute(select(table.c.id).where(
                    (table.c.tenant_id == tid) & (table.c.name == name)))]
                assert ids, f"no {kind} {name!r}"
                if kind == "Channel":
                    conn.execute(delete(placements).where(placements.c.channel_id.in_(ids)))
                conn.execute(delete(table).where(table.c.id.in_(ids)))
            else:
                result = conn.execute(update(table).where(_live_row(table, tid, name)).values(
                    deleted_at=now, updated_at=now, version=table.c.version + 1))
                assert result.rowcount == 1, f"no live {kind} {name!r}"
    finally:
        db.dispose()


def sql_audit_applies(url: str, tenant: str = "acme") -> int:
    """How many ``gitops_apply`` audit rows the tenant has (one per real apply)."""
    db = Database(url)
    try:
        with db.read() as conn:
            tid = _tenant(conn, tenant)
            query = select(func.count()).select_from(audit_logs).where(
                (audit_logs.c.tenant_id == tid) & (audit_logs.c.action == "gitops_apply"))
            return int(conn.execute(query).scalar_one())
    finally:
        db.dispose()


def sql_locks(url: str) -> list[dict[str, Any]]:
    db = Database(url)
    try:
        with db.read() as conn:
            return [dict(r) for r in conn.execute(select(gitops_locks)).mappings()]
    finally:
        db.dispose()


# ------------------------------------------------------------------ documents
def changes(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(op, kind, name)`` of a plan document's changes, in execution order."""
    return [(d["op"], d["kind"], d["name"]) for d in doc["diffs"] if d["op"] != "unchanged"]


def change(doc: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in doc["diffs"] if d["kind"] == kind and d["name"] == name]
    assert len(found) == 1, doc["diffs"]
    return found[0]


def drift_items(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["name"]): d for d in doc["drift"]}


def statuses(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {key: d["status"] for key, d in drift_items(doc).items()}


def serial(cli: CliEnv, **env: str) -> int:
    return int(cli.ok("state", "pull", **env).json()["serial"])


def state_doc(cli: CliEnv, **env: str) -> dict[str, Any]:
    return cli.ok("state", "pull", **env).json()


def offer_priority(cli: CliEnv, name: str, **env: str) -> int | None:
    exported = cli.ok("export", "--format", "json", **env).json()
    for r in exported["resources"]:
        if r["kind"] == "Offer" and r["metadata"]["name"] == name:
            return r["spec"].get("priority", 50)
    return None


@dataclass
class Snapshot:
    export: str
    state: str
    locks: str


def snapshot(cli: CliEnv, state_file: Path | None = None) -> Snapshot:
    """What "nothing written" compares: export, state (pull or file bytes), lock list."""
    state = cli.ok("state", "pull").out
    if state_file is not None:
        state += "\n--file--\n" + (state_file.read_text() if state_file.exists() else "<absent>")
    return Snapshot(cli.ok("export", "--format", "json").out, state, cli.ok("lock", "list").out)


def assert_writes_nothing(cli: CliEnv, step: Callable[[], Any], state_file: Path | None = None) -> Any:
    before = snapshot(cli, state_file)
    out = step()
    after = snapshot(cli, state_file)
    assert after == before
    assert "No locks held." in after.locks
    return out


# ------------------------------------------------------------------ subprocesses
class Proc(subprocess.Popen[str]):
    """A started ``decisionform`` whose output goes to files (a full pipe would stall it)."""

    out_file: Any
    err_file: Any


def spawn(cli: CliEnv, *args: str, **env: str) -> Proc:
    """Start the real ``decisionform`` in a subprocess (not waited for)."""
    full_env = {**os.environ, **cli.env(**env)}
    full_env.pop("DECISIONFORM_STATE", None)
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by finish)
    proc = Proc([str(ENTRY), *map(str, args)], cwd=cli.cwd, env=full_env, text=True, stdout=out, stderr=err)
    proc.out_file, proc.err_file = out, err
    return proc


def finish(proc: Proc, timeout: float = 180) -> CliResult:
    proc.wait(timeout=timeout)
    texts = []
    for fh in (proc.out_file, proc.err_file):
        fh.seek(0)
        texts.append(fh.read())
        fh.close()
    return CliResult(proc.returncode, texts[0], texts[1])


def run_at_once(cli: CliEnv, commands: list[tuple[str, ...]], **env: str) -> list[CliResult]:
    """Start every command before waiting for any; results in the same order."""
    procs = [spawn(cli, *command, **env) for command in commands]
    return [finish(p) for p in procs]


def wait_for_lock(url: str, timeout: float = 60, alive: Proc | None = None) -> dict[str, Any]:
    """Poll ``gitops_locks`` until a lease row appears; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = sql_locks(url)
        if rows:
            return rows[0]
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"the process ended before taking the lock: {finish(alive)!r}")
        time.sleep(0.02)
    raise AssertionError("no lock appeared")


def assert_clean_failure(result: CliResult) -> None:
    """Exit 1 for a lock or staleness reason, never a database error or traceback."""
    assert result.code == 1, result
    err = result.err.lower()
    assert "state is locked by" in err or "plan is stale" in err, result
    for word in DB_ERRORS:
        assert word.lower() not in err, result


# ------------------------------------------------------------------ bundles
def big_bundle(path: Path, count: int, category: str = "Credit Cards") -> Path:
    """``count`` Offers in the pre-existing ``category`` (the cases' big.json, smaller)."""
    offers = [{"apiVersion": "decisionform/v1", "kind": "Offer", "metadata": {"name": f"Bulk Offer {i:05d}"},
               "spec": {"category": category, "status": "draft", "priority": i % 101, "tags": ["bulk"]}}
              for i in range(count)]
    path.write_text(json.dumps({"manifest": {"apiVersion": "decisionform/v1", "tenant": "acme"},
                                "resources": offers}))
    return path


def write_bundle(path: Path, resources: list[dict[str, Any]]) -> Path:
    """A JSON bundle of ``resources`` given as ``{kind, name, spec, labels?, annotations?}``."""
    docs = []
    for r in resources:
        meta: dict[str, Any] = {"name": r["name"]}
        for key in ("labels", "annotations"):
            if r.get(key):
                meta[key] = r[key]
        docs.append({"apiVersion": "decisionform/v1", "kind": r["kind"], "metadata": meta, "spec": r.get("spec", {})})
    path.write_text(json.dumps({"manifest": {"apiVersion": "decisionform/v1"}, "resources": docs}))
    return path
