"""Shared by the case tests H01, H05 and H06: SQL behind the engine's back, and "nothing written".

``RawSql`` talks to the test's database with the plain driver (sqlite3 / psycopg), the
way the platform's UI or a DBA would: it never goes through decisionform. ``Snapshot``
captures what the cases' "nothing written" compares (cases/README.md): the export, the
state (``state pull`` or the state file's bytes), ``lock list``, every row's version and
the number of audit rows.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from decisionform.bundle.kinds import KINDS
from support import CliEnv, CliResult, case_file

KIND_TABLE = {kind.name: kind.table for kind in KINDS}
NO_LOCKS = "No locks held."
# A runnable entry point for real subprocesses (kill -9 tests), whatever the venv layout.
CLI_COMMAND = [sys.executable, "-c", "from decisionform.cli import main; main()"]


class RawSql:
    """Statements on the test database outside the engine; ``:name`` parameters on both dialects."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"

    def _sqlite(self) -> sqlite3.Connection:
        return sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=60)

    def _pg(self) -> psycopg.Connection:
        return psycopg.connect(self.url.replace("+psycopg", ""), connect_timeout=10)

    def query(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        if self.dialect == "sqlite":
            with closing(self._sqlite()) as conn, conn:
                return list(conn.execute(statement, params).fetchall())
        with self._pg() as conn:
            cur = conn.execute(re.sub(r"(?<!:):(\w+)", r"%(\1)s", statement), params)
            return list(cur.fetchall()) if cur.description else []

    def execute(self, statement: str, **params: Any) -> None:
        self.query(statement, **params)

    def script(self, text: str) -> None:
        """Several statements at once (trigger files: bodies hold semicolons)."""
        if self.dialect == "sqlite":
            with closing(self._sqlite()) as conn:
                conn.executescript(text)
            return
        with self._pg() as conn:
            conn.execute(text)  # no parameters: psycopg sends the statements as they are

    def scalar(self, statement: str, **params: Any) -> Any:
        return self.query(statement, **params)[0][0]

    # ---------------------------------------------------------------- case files
    def install(self, case: str, name: str) -> None:
        """Install a case's SQL file (``fail-offer`` ...) for this dialect."""
        suffix = "sqlite" if self.dialect == "sqlite" else "postgres"
        text = case_file(case, f"{name}.{suffix}.sql").read_text()
        self.script(text.replace("__OFFER_TABLE__", KIND_TABLE["Offer"]))

    # ---------------------------------------------------------------- the platform UI
    def tenant_id(self, tenant: str = "acme") -> str:
        return str(self.scalar("SELECT id FROM tenants WHERE name = :n", n=tenant))

    def ui_update(self, kind: str, name: str, **columns: Any) -> None:
        """Edit a live row as the platform UI does: new values, version + 1, updated_at now."""
        sets = ", ".join(f"{col} = :c_{col}" for col in columns)
        params = {f"c_{col}": value for col, value in columns.items()}
        self.execute(f"UPDATE {KIND_TABLE[kind]} SET {sets}, version = version + 1, "
                     "updated_at = CURRENT_TIMESTAMP WHERE name = :name AND deleted_at IS NULL",
                     name=name, **params)

    def ui_soft_delete(self, kind: str, name: str) -> None:
        self.execute(f"UPDATE {KIND_TABLE[kind]} SET deleted_at = CURRENT_TIMESTAMP, version = version + 1, "
                     "updated_at = CURRENT_TIMESTAMP WHERE name = :name AND deleted_at IS NULL", name=name)

    def ui_hard_delete(self, kind: str, name: str) -> None:
        self.execute(f"DELETE FROM {KIND_TABLE[kind]} WHERE name = :name", name=name)

    def ui_insert_offer(self, name: str, category: str, priority: int, row_id: str) -> None:
        """A new Offer row typed into the platform UI (ids of its own, version 1)."""
        cat = self.scalar("SELECT id FROM categories WHERE name = :n AND deleted_at IS NULL", n=category)
        self.execute("INSERT INTO offers (id, tenant_id, name, status, category_id, priority, mandatory, "
                     "version, created_at, updated_at) VALUES (:id, :t, :name, 'active', :cat, :p, FALSE, 1, "
                     "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                     id=row_id, t=self.tenant_id(), name=name, cat=cat, p=priority)

    # ---------------------------------------------------------------- what the cases read
    def versions(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every kind row (and placement): (name, id, version, deleted?), by table."""
        out = {}
        for table in [*KIND_TABLE.values(), "placements"]:
            out[table] = self.query(f"SELECT name, id, version, deleted_at IS NOT NULL FROM {table} "
                                    "ORDER BY name, id")
        return out

    def version_of(self, kind: str, name: str) -> int:
        return int(self.scalar(f"SELECT version FROM {KIND_TABLE[kind]} WHERE name = :n AND deleted_at IS NULL",
                               n=name))

    def audit_rows(self) -> int:
        return int(self.scalar("SELECT count(*) FROM audit_logs"))

    def locks(self) -> list[tuple[Any, ...]]:
        return self.query("SELECT lock_id, pid FROM gitops_locks")

    def live_names(self, kind: str) -> list[str]:
        """Names of the live (not deleted) rows, duplicates kept."""
        return [r[0] for r in self.query(f"SELECT name FROM {KIND_TABLE[kind]} WHERE deleted_at IS NULL")]


# -------------------------------------------------------------------- nothing written
@dataclass
class Snapshot:
    export: str
    state: str | bytes | None  # `state pull` (database backend) or the file's bytes (None: no file)
    locks: str
    versions: dict[str, list[tuple[Any, ...]]]
    audit_rows: int

    @property
    def serial(self) -> int:
        assert isinstance(self.state, str | bytes)
        return int(json.loads(self.state)["serial"])


def snapshot(cli: CliEnv, sql: RawSql, state_file: str | None = None) -> Snapshot:
    if state_file is None:
        state: str | bytes | None = cli.ok("state", "pull").out
    else:
        path = cli.cwd / state_file
        state = path.read_bytes() if path.exists() else None
    return Snapshot(export=cli.ok("export", "--format", "json").out, state=state,
                    locks=cli.ok("lock", "list").out, versions=sql.versions(), audit_rows=sql.audit_rows())


def assert_nothing_written(before: Snapshot, after: Snapshot) -> None:
    assert after.export == before.export, "export changed"
    assert after.state == before.state, "state changed"
    assert after.locks.strip() == NO_LOCKS, f"a lock was left: {after.locks}"
    assert after.versions == before.versions, "rows were written (versions changed)"
    assert after.audit_rows == before.audit_rows, "audit rows were written"


# -------------------------------------------------------------------- reading results
def summary_of(result: CliResult) -> dict[str, int]:
    return dict(result.json()["summary"])


def changes_of(result: CliResult) -> list[dict[str, Any]]:
    return [d for d in result.json()["diffs"] if d["op"] != "unchanged"]


def ops_of(result: CliResult) -> list[tuple[str, str, str]]:
    return [(d["kind"], d["name"], d["op"]) for d in changes_of(result)]


def resources(cli: CliEnv) -> dict[tuple[str, str], dict[str, Any]]:
    return cli.exported()


def assert_refused(result: CliResult, *words: str) -> None:
    """Exit 1, one clear message on stderr containing ``words`` (case-insensitive), no traceback."""
    assert result.code == 1, result
    assert "Traceback" not in result.err and "Traceback" not in result.out
    assert result.err.startswith("Error: ") and "unexpected" not in result.err, result
    for word in words:
        assert word.lower() in result.err.lower(), (word, result.err)


def stale_or_applied(result: CliResult) -> None:
    assert result.code == 1, result
    err = result.err.lower()
    assert "already applied" in err or "plan is stale" in err, result.err


def run_subprocess(cli: CliEnv, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """Start the real CLI as a separate process (so that it can be killed)."""
    full_env = {**os.environ, **cli.env(**env)}
    return subprocess.Popen([*CLI_COMMAND, *args], cwd=cli.cwd, env=full_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def write_json(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path
