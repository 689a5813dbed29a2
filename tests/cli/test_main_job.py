"""Issue 2's main job, end to end through the real CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter

from support import NORTHWIND, CliEnv

NORTHWIND_COUNTS = {"Category": 4, "SubCategory": 4, "Channel": 5, "Offer": 8, "Creative": 10,
                    "QualificationRule": 5, "ContactPolicy": 9, "ArbitrationProfile": 3, "DecisionFlow": 3}


def test_northwind_plan_apply_replan_export(cli: CliEnv) -> None:
    cli.run("tenant", "create", "northwind")
    t = {"DECISIONFORM_TENANT": "northwind"}
    planned = cli.run("plan", NORTHWIND, "--out", "plan.out", "--format", "json", "--detailed-exitcode", **t)
    assert planned.code == 2, planned
    assert planned.json()["summary"] == {"created": 51, "updated": 0, "deleted": 0, "unchanged": 0}
    assert sum(NORTHWIND_COUNTS.values()) == 51

    cli.ok("apply", "plan.out", **t)
    exported = cli.ok("export", "--format", "json", **t).json()
    assert Counter(r["kind"] for r in exported["resources"]) == NORTHWIND_COUNTS
    assert exported["manifest"]["tenant"] == "northwind"

    assert cli.run("plan", NORTHWIND, "--detailed-exitcode", **t).code == 0
    cli.ok("export", "--out", "export.yaml", **t)
    assert cli.run("plan", "export.yaml", "--detailed-exitcode", **t).code == 0
    cli.ok("export", "--format", "json", "--out", "export.json", **t)
    assert cli.run("plan", "export.json", "--detailed-exitcode", **t).code == 0
    cli.ok("export", "--layout", "files", "--out", "tree", **t)
    assert cli.run("plan", "tree", "--detailed-exitcode", **t).code == 0

    again = cli.run("apply", "plan.out", **t)
    assert again.code == 1
    assert "already applied" in again.err or "plan is stale" in again.err
    assert cli.ok("export", "--format", "json", **t).json() == exported


def test_same_bundle_on_two_databases_gives_same_rows(cli: CliEnv, new_db_url, tmp_path) -> None:
    other = CliEnv(url=new_db_url(), tenant="acme", cwd=tmp_path)
    other.ok("db", "upgrade")
    other.ok("tenant", "create", "acme")
    for env in (cli, other):
        env.ok("apply", NORTHWIND, "--auto-approve")
    first, second = cli.ok("export", "--format", "json").out, other.ok("export", "--format", "json").out
    assert first == second
    ids_one = _offer_ids(cli.url)
    ids_two = _offer_ids(other.url)
    assert set(ids_one) == set(ids_two)  # same names ...
    assert not set(ids_one.values()) & set(ids_two.values())  # ... different random ids


def _offer_ids(url: str) -> dict[str, str]:
    from sqlalchemy import text

    from decisionform.providers.database import Database

    db = Database(url)
    try:
        with db.read() as conn:
            return {name: row_id for row_id, name in conn.execute(text("SELECT id, name FROM offers"))}
    finally:
        db.dispose()


CONTOSO = NORTHWIND.parents[2] / "examples" / "contoso" / "bundle.yaml"


def test_project_example_converges(cli: CliEnv) -> None:
    """The demo's bundle: valid, applies, re-plans to zero, and so does its export."""
    cli.ok("validate", CONTOSO)
    planned = cli.ok("plan", CONTOSO, "--out", "demo.out", "--format", "json").json()
    assert planned["summary"]["created"] == 53
    assert {d["kind"] for d in planned["diffs"]} == set(NORTHWIND_COUNTS)
    cli.ok("apply", "demo.out")
    assert cli.run("plan", CONTOSO, "--detailed-exitcode").code == 0
    cli.ok("export", "--out", "contoso-export.yaml")
    assert cli.run("plan", "contoso-export.yaml", "--detailed-exitcode").code == 0
