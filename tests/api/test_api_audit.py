"""The audit trail over HTTP (rows written with the apply, redacted, hash-chained, read-only),
tenant isolation on every route, and the cron drift check."""

from __future__ import annotations

import json

from api_support import CRON_SECRET, ApiEnv, make_client
from sqlalchemy import update

from decisionform.providers.schema import audit_logs
from decisionform.state.locks import LeaseLock
from oob_helpers import sql_update
from support import case_file

H07, H12 = "H07-lock-contention", "H12-diff-dryrun-fidelity"
TOKEN = "tok-1234567890-very-secret"
CHANNEL = f"""
resources:
  - kind: Category
    metadata: {{name: Credit Cards}}
  - kind: Channel
    metadata: {{name: Hook}}
    spec:
      channelType: webhook
      providerConfig: {{url: https://hooks.example.test, token: {TOKEN}}}
"""


def test_real_apply_writes_redacted_chained_audit_rows(api: ApiEnv) -> None:
    first = api.ok(api.apply(CHANNEL, "dryRun=false", ctype="application/yaml"))
    second = api.ok(api.apply(CHANNEL.replace(TOKEN, TOKEN + "-2"), "dryRun=false", ctype="application/yaml"))
    rows = api.audit(action=None)
    assert [r["action"] for r in rows] == ["gitops_update", "gitops_apply", "gitops_create", "gitops_create",
                                           "gitops_apply"]  # newest first
    assert TOKEN not in json.dumps(rows)
    apply_row = rows[-1]
    assert apply_row["actor"] == "acme-editor-bot" and apply_row["tenant"] == "acme"
    assert apply_row["after"]["planId"] == first["planId"] == apply_row["planId"]
    assert apply_row["after"]["summary"] == first["summary"] and apply_row["after"]["kinds"] == ["Category",
                                                                                                "Channel"]
    assert "2 created" in apply_row["summary"]
    update_row = rows[0]
    assert (update_row["entityType"], update_row["entityName"]) == ("Channel", "Hook")
    assert update_row["planId"] == second["planId"]
    assert update_row["after"]["spec"]["providerConfig"]["token"].startswith("(sensitive")
    assert update_row["before"]["spec"]["providerConfig"]["url"] == "https://hooks.example.test"
    for newer, older in zip(reversed(rows[:-1]), reversed(rows[1:]), strict=True):
        assert newer["prevHash"] == older["integrityHash"]
    assert len(api.audit(action="gitops_apply")) == 2
    assert len(api.ok(api.client.get("/api/v1/audit-logs?limit=2", headers=api.headers("admin")))) == 2

    verify = "/api/v1/audit-logs/verify"
    assert api.ok(api.client.get(verify, headers=api.headers("admin"))) == {"intact": True, "total": 5}
    with api.database.write() as conn:  # tampering behind the API's back is detected
        conn.execute(update(audit_logs).where(audit_logs.c.id == rows[2]["id"]).values(summary="nothing"))
    assert api.ok(api.client.get(verify, headers=api.headers("admin"))) == {
        "intact": False, "total": 3, "brokenAtId": rows[2]["id"]}


def test_tenants_never_see_each_other(api: ApiEnv) -> None:
    api.cli.ok("apply", str(case_file(H12, "base.yaml")), "--auto-approve")
    api.add_tenant("globex")
    globex = case_file(H07, "globex.yaml")
    api.ok(api.apply(globex, "dryRun=false", tenant="globex"))
    globex_before = api.snapshot("globex")

    exported = api.exported()
    assert exported[("Offer", "Gold Card")]["spec"]["priority"] == 50 and ("Channel", "Email") in exported
    assert api.exported("globex")[("Offer", "Gold Card")]["spec"]["priority"] == 55
    doc = api.ok(api.diff(globex))  # planned against acme's rows only
    gold = next(d for d in doc["diffs"] if d["name"] == "Gold Card")
    assert gold["op"] == "update" and gold["before"]["spec"]["priority"] == 50
    pruned = api.ok(api.apply(globex, "dryRun=false&prune=true"))
    assert ("delete", "Channel", "Email") in [(d["op"], d["kind"], d["name"]) for d in pruned["diffs"]]
    assert api.snapshot("globex") == globex_before
    assert {r["tenant"] for r in api.audit(action=None)} == {"acme"}
    assert {r["tenant"] for r in api.audit(action=None, tenant="globex")} == {"globex"}
    assert len(api.audit(tenant="globex")) == 1

    other = {"X-Tenant-Id": "globex"}
    requests = [("GET", "/api/v1/gitops/export", "viewer"), ("POST", "/api/v1/gitops/diff", "viewer"),
                ("POST", "/api/v1/gitops/apply?dryRun=false&prune=true", "editor"),
                ("GET", "/api/v1/audit-logs", "admin"), ("GET", "/api/v1/audit-logs/verify", "admin")]
    for method, url, role in requests:
        response = api.client.request(method, url, content=globex.read_bytes(),
                                      headers=api.headers(role, **other, **{"Content-Type": "application/yaml"}))
        assert api.error(response, 403)["code"] == "wrong_tenant", url
    assert api.snapshot("globex") == globex_before

    with LeaseLock(api.database, api.engine("acme").tenant_id, "apply"):  # acme's lease blocks acme only
        error = api.error(api.apply(globex, "dryRun=false"), 409)
        assert error["code"] == "locked" and "state is locked by" in error["message"]
        changed = globex.read_text().replace("priority: 55", "priority: 56")
        assert api.ok(api.apply(changed, "dryRun=false", tenant="globex", ctype="application/yaml"))["applied"]


def test_cron_drift_check_stores_a_report_per_tenant(api: ApiEnv) -> None:
    route = "/api/v1/cron/gitops-drift-check"
    api.cli.ok("apply", str(case_file(H12, "base.yaml")), "--auto-approve")
    api.add_tenant("globex")
    api.ok(api.apply(case_file(H07, "globex.yaml"), "dryRun=false", tenant="globex"))
    api.add_tenant("initech")  # no state: nothing to compare
    sql_update(api.url, "Offer", "Gold Card", priority=99)

    assert api.error(api.client.post(route), 401)["code"] == "unauthorized"
    assert api.client.post(route, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.client.post(route, headers=api.headers("admin")).status_code == 401
    with make_client(api.cli, api.database, cron_secret=None) as no_secret:
        assert no_secret.post(route, headers={"Authorization": f"Bearer {CRON_SECRET}"}).status_code == 401
    assert api.engine("acme").drift_reports() == []

    before = api.snapshot()
    result = api.ok(api.client.post(route, headers={"Authorization": f"Bearer {CRON_SECRET}"}))
    by_tenant = {t["tenant"]: t for t in result["tenants"]}
    assert result["checked"] == 2 and set(by_tenant) == {"acme", "globex"}
    assert by_tenant["acme"]["summary"] == {"changed": 1, "deleted": 0, "unmanaged": 0}
    assert by_tenant["globex"]["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 0}
    stored = api.engine("acme").drift_reports()
    assert len(stored) == 1 and stored[0]["id"] == by_tenant["acme"]["reportId"]
    assert stored[0]["report"]["drift"][0]["changedFields"] == ["spec.priority"]
    assert len(api.engine("globex").drift_reports()) == 1 and api.engine("initech").drift_reports() == []
    assert api.snapshot() == before  # a drift check writes a report, never rows or state
