"""Helpers of the HTTP API tests: an app on a fresh database, keys, requests, snapshots.

``ApiEnv`` wraps the ``cli`` fixture's database (tenant ``acme``) with a FastAPI
``TestClient`` and one key per role; ``snapshot`` is the "nothing written"
comparison of the cases README (export, state, locks) plus the audit rows and
every row's ``version``/``updated_at``/``deleted_at``.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import select

from decisionform.api.app import ApiSettings, create_app
from decisionform.api.logs import JsonFormatter
from decisionform.engine import Engine, Settings
from decisionform.providers.database import Database
from decisionform.providers.schema import KIND_TABLES, tenants
from support import CliEnv, case_file

CRON_SECRET = "cron-secret-for-tests-0123456789"


def content_type(path: Path | str) -> str:
    return "application/json" if str(path).endswith(".json") else "application/yaml"


@dataclass
class ApiEnv:
    cli: CliEnv
    database: Database
    client: TestClient
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (tenant, role) -> key

    @property
    def url(self) -> str:
        return self.cli.url

    def engine(self, tenant: str = "acme") -> Engine:
        return Engine(Settings(database_url=self.url, tenant=tenant, state="db"), database=self.database)

    def key(self, role: str = "editor", tenant: str = "acme") -> str:
        if (tenant, role) not in self.keys:
            _record, key = self.engine(tenant).create_api_key(role, name=f"{tenant}-{role}-bot")
            self.keys[(tenant, role)] = key
        return self.keys[(tenant, role)]

    def add_tenant(self, name: str) -> None:
        self.engine(name).create_tenant(name)

    def headers(self, role: str = "editor", tenant: str = "acme", **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.key(role, tenant), **extra}

    # ------------------------------------------------------------ requests
    def post(self, route: str, body: Path | bytes | str, query: str = "", *, role: str = "editor",
             tenant: str = "acme", ctype: str | None = None, headers: dict[str, str] | None = None,
             ) -> httpx2.Response:
        if isinstance(body, Path):
            ctype = ctype or content_type(body)
            body = body.read_bytes()
        hdrs = {**self.headers(role, tenant), **({"Content-Type": ctype} if ctype else {}), **(headers or {})}
        url = f"/api/v1/gitops/{route}" + (f"?{query}" if query else "")
        return self.client.post(url, content=body, headers=hdrs)

    def diff(self, body: Path | bytes | str, query: str = "", **kw: Any) -> httpx2.Response:
        return self.post("diff", body, query, **kw)

    def apply(self, body: Path | bytes | str, query: str = "", **kw: Any) -> httpx2.Response:
        return self.post("apply", body, query, **kw)

    def ok(self, response: httpx2.Response, status: int = 200) -> Any:
        assert response.status_code == status, (response.status_code, response.text[:3000])
        assert "Traceback" not in response.text
        return response.json()

    def error(self, response: httpx2.Response, status: int) -> dict[str, Any]:
        """The error envelope of a ``status`` response: ``{code, message, details}``."""
        body = self.ok(response, status)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
        return body["error"]

    def export(self, role: str = "viewer", tenant: str = "acme") -> dict[str, Any]:
        return self.ok(self.client.get("/api/v1/gitops/export?format=json", headers=self.headers(role, tenant)))

    def exported(self, tenant: str = "acme") -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["kind"], r["metadata"]["name"]): r for r in self.export(tenant=tenant)["resources"]}

    def audit(self, action: str | None = "gitops_apply", tenant: str = "acme") -> list[dict[str, Any]]:
        query = f"?action={action}&limit=1000" if action else "?limit=1000"
        return self.ok(self.client.get(f"/api/v1/audit-logs{query}", headers=self.headers("admin", tenant)))

    # ------------------------------------------------------------ nothing written
    def snapshot(self, tenant: str = "acme") -> dict[str, Any]:
        engine = self.engine(tenant)
        return {"export": engine.export(fmt="json").text, "state": engine.pull_state().to_document(),
                "locks": [lock.lock_id for lock in engine.locks()], "audit": engine.audit_logs(limit=1000),
                "rows": self.row_versions(tenant)}

    def row_versions(self, tenant: str = "acme") -> dict[tuple[str, str], tuple[Any, ...]]:
        out: dict[tuple[str, str], tuple[Any, ...]] = {}
        with self.database.read() as conn:
            tid = conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)).scalar_one()
            for kind, table in KIND_TABLES.items():
                query = select(table.c.name, table.c.version, table.c.updated_at, table.c.deleted_at)
                for row in conn.execute(query.where(table.c.tenant_id == tid)):
                    out[(kind, row.name)] = (row.version, row.updated_at, row.deleted_at)
        return out

    # ------------------------------------------------------------ fault injection
    def run_sql_file(self, case: str, name: str) -> None:
        """Install or remove one of H06's trigger files (``__OFFER_TABLE__`` filled in)."""
        backend = "sqlite" if self.url.startswith("sqlite") else "postgres"
        text = case_file(case, f"{name}.{backend}.sql").read_text()
        text = text.replace("__OFFER_TABLE__", KIND_TABLES["Offer"].name)
        if backend == "sqlite":
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            try:
                conn.executescript(text)
            finally:
                conn.close()
            return
        with psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as pg:
            pg.execute(text)  # type: ignore[call-overload]


def make_client(cli: CliEnv, database: Database, **settings: Any) -> TestClient:
    app = create_app(ApiSettings(**{"database_url": cli.url, "cron_secret": CRON_SECRET, **settings}),
                     database=database)
    return TestClient(app, raise_server_exceptions=False)


def changes(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(d["op"], d["kind"], d["name"]) for d in doc["diffs"] if d["op"] != "unchanged"]


class LogCapture(logging.Handler):
    """Collects the server's log records as the JSON lines it would print."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
