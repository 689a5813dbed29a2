"""API keys (CLI and storage) and who may call what: 401 without credentials, 403 for an
unusable key, another tenant or a role too low; X-Tenant-Id only behind a trusted proxy."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from api_support import ApiEnv, make_client
from sqlalchemy import select, update

from decisionform.providers.schema import api_keys
from support import case_file

H12 = "H12-diff-dryrun-fidelity"
KEY_RE = re.compile(r"^krn_[A-Za-z0-9_-]{40,}$")


def test_apikey_commands_store_only_a_hash(api: ApiEnv) -> None:
    cli = api.cli
    created = cli.ok("apikey", "create", "--tenant", "acme", "--role", "editor", "--name", "ci-bot")
    key = created.out.strip()
    assert KEY_RE.match(key) and "not shown again" in created.err and key not in created.err
    with api.database.read() as conn:
        row = conn.execute(select(api_keys)).mappings().one()
    assert row["key_hash"] == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(dict(row)) and key.startswith(row["key_prefix"])

    listed = cli.ok("apikey", "list").out
    assert "ci-bot" in listed and row["key_prefix"] in listed and key not in listed and "active" in listed
    headers = {"X-API-Key": key}
    assert api.client.get("/api/v1/gitops/export", headers=headers).status_code == 200

    assert "Revoked" in cli.ok("apikey", "revoke", row["id"]).out
    assert "revoked" in cli.ok("apikey", "list").out
    error = api.error(api.client.get("/api/v1/gitops/export", headers=headers), 403)
    assert "revoked" in error["message"] and key not in error["message"]

    assert cli.run("apikey", "create", "--role", "owner").code == 1
    assert "past" in cli.run("apikey", "create", "--role", "viewer", "--expires", "2001-01-01").err
    expiring = cli.ok("apikey", "create", "--role", "viewer", "--expires", "30d").out.strip()
    assert api.client.get("/api/v1/gitops/export", headers={"X-API-Key": expiring}).status_code == 200
    with api.database.write() as conn:
        conn.execute(update(api_keys).where(api_keys.c.key_prefix == expiring[:12])
                     .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    error = api.error(api.client.get("/api/v1/gitops/export", headers={"X-API-Key": expiring}), 403)
    assert "expired" in error["message"]
    unknown = cli.run("apikey", "revoke", "key_nope")
    assert unknown.code == 1 and "no API key 'key_nope'" in unknown.err


def test_credentials_and_roles(api: ApiEnv) -> None:
    bundle = case_file(H12, "base.yaml")
    export = "/api/v1/gitops/export"
    error = api.error(api.client.get(export), 401)
    assert error["code"] == "unauthorized"
    assert api.client.get(export).headers["www-authenticate"].startswith("ApiKey")
    assert api.error(api.client.get(export, headers={"X-Tenant-Id": "acme"}), 401)["code"] == "unauthorized"
    for bad in ("krn_" + "A" * 43, "not-a-key", "krn_short"):
        assert api.error(api.client.get(export, headers={"X-API-Key": bad}), 403)["code"] == "forbidden"

    before = api.snapshot()
    for query in ("format=yaml", "format=json", "layout=files"):
        assert api.client.get(f"{export}?{query}", headers=api.headers("viewer")).status_code == 200
    assert api.ok(api.diff(bundle, role="viewer"))["summary"]["created"] == 3
    assert api.error(api.apply(bundle, "dryRun=false", role="viewer"), 403)["code"] == "forbidden"
    assert api.error(api.apply(bundle, role="viewer"), 403)["code"] == "forbidden"  # apply is editor's
    for role in ("viewer", "editor"):
        for route in ("/api/v1/audit-logs", "/api/v1/audit-logs/verify"):
            assert api.client.get(route, headers=api.headers(role)).status_code == 403
    assert api.snapshot() == before

    assert api.ok(api.apply(bundle, "dryRun=false", role="admin"))["applied"] is True
    assert api.ok(api.client.get("/api/v1/audit-logs/verify", headers=api.headers("admin")))["intact"] is True
    api.add_tenant("globex")
    error = api.error(api.client.get(export, headers=api.headers("viewer", **{"X-Tenant-Id": "globex"})), 403)
    assert error["code"] == "wrong_tenant"
    assert api.client.get(export, headers=api.headers("viewer", **{"X-Tenant-Id": "acme"})).status_code == 200


def test_trusted_tenant_header(api: ApiEnv) -> None:
    bundle = case_file(H12, "base.yaml")
    with make_client(api.cli, api.database, trust_tenant_header=True) as trusted:
        assert trusted.get("/api/v1/gitops/export").status_code == 401
        assert trusted.get("/api/v1/gitops/export", headers={"X-Tenant-Id": "acme"}).status_code == 200
        assert trusted.get("/api/v1/gitops/export", headers={"X-Tenant-Id": "nope"}).status_code == 403
        assert trusted.get("/api/v1/gitops/export", headers={"X-Tenant-Id": "acme", "X-Role": "root"}
                           ).status_code == 403
        body = bundle.read_bytes()
        viewer = trusted.post("/api/v1/gitops/apply?dryRun=false", content=body,
                              headers={"X-Tenant-Id": "acme", "Content-Type": "application/yaml"})
        assert viewer.status_code == 403  # the proxy's default role is viewer
        editor = trusted.post("/api/v1/gitops/apply?dryRun=false", content=body,
                              headers={"X-Tenant-Id": "acme", "X-Role": "editor", "X-Actor": "alice@proxy",
                                       "Content-Type": "application/yaml"})
        assert editor.status_code == 200 and editor.json()["summary"]["created"] == 3
    assert {row["actor"] for row in api.audit(action=None)} == {"alice@proxy"}
