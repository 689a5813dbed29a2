"""The HTTP parts of the handed cases (tests/cases/data/H*/README.md), on SQLite and PostgreSQL,
through the TestClient. H04's twenty concurrent bombs and H07's concurrent applies run against a
real uvicorn in test_api_server.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import ApiEnv, changes

from support import case_file

H01, H02, H03, H04 = ("H01-stale-plan-reapply", "H02-yaml11-booleans-norway", "H03-duplicate-keys",
                      "H04-alias-bomb")
H05, H06, H09, H10 = ("H05-explicit-defaults-noop", "H06-failed-apply-atomic", "H09-empty-bundle-prune",
                      "H10-prune-unmanaged-and-kinds")
H11, H12 = "H11-out-of-band-delete-refresh", "H12-diff-dryrun-fidelity"


def summary(created: int = 0, updated: int = 0, deleted: int = 0, unchanged: int = 0) -> dict[str, int]:
    return {"created": created, "updated": updated, "deleted": deleted, "unchanged": unchanged}


def apply_cli(api: ApiEnv, case: str, name: str, *extra: str) -> None:
    api.cli.ok("apply", str(case_file(case, name)), "--auto-approve", *extra)


def cli_plan(api: ApiEnv, case: str, name: str, *extra: str) -> dict[str, Any]:
    return api.cli.ok("plan", str(case_file(case, name)), "--format", "json", *extra).json()


def cli_error(api: ApiEnv, path: Path, *args: str, filename: str = "<request body>") -> str:
    """The CLI's message for ``path``, with the file's name as the API names the body."""
    result = api.cli.run(*args, str(path))
    assert result.code == 1, result
    return result.err.strip().removeprefix("Error: ").replace(str(path), filename)


def comparable(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(d["kind"], d["name"], d["op"], sorted(d["changedFields"]), d["before"], d["after"])
            for d in doc["diffs"]]


def yaml_text_body(path: Path) -> bytes:
    return json.dumps({"yamlText": path.read_text()}).encode()


# ------------------------------------------------------------------ H01 F
def test_h01_repeated_apply_converges(api: ApiEnv) -> None:
    apply_cli(api, H01, "bundle-v2.yaml")  # the database as after E.1
    v3 = case_file(H01, "bundle-v3.yaml")
    first = api.ok(api.apply(v3, "dryRun=false"))
    assert first["dryRun"] is False and first["summary"] == summary(updated=2)
    before = api.snapshot()
    second = api.ok(api.apply(v3, "dryRun=false"))
    assert second["summary"] == summary(unchanged=2) and second["applied"] is False
    assert api.snapshot() == before
    assert api.cli.run("plan", str(v3), "--detailed-exitcode").code == 0


# ------------------------------------------------------------------ H02
def test_h02_yaml12_scalars_over_http(api: ApiEnv) -> None:
    bundle = case_file(H02, "bundle.yaml")
    cli = cli_plan(api, H02, "bundle.yaml")
    doc = api.ok(api.diff(bundle))
    assert doc["summary"] == summary(created=6) and comparable(doc) == comparable(cli)
    offer = next(d["after"] for d in doc["diffs"] if d["name"] == "Nordic Saver")
    assert offer["metadata"]["labels"] == {"country": "NO", "lang": "no"}
    assert offer["spec"]["tags"] == ["SE", "NO", "DK", "FI", "IS"] and offer["spec"]["mandatory"] is False
    as_yaml_text = api.ok(api.diff(yaml_text_body(bundle), ctype="application/json"))
    assert comparable(as_yaml_text) == comparable(doc) and as_yaml_text["summary"] == doc["summary"]

    words = case_file(H02, "bundle-bool-words.yaml")
    message = api.error(api.diff(words), 400)["message"]
    for path in ('Offer "Nordic Saver".spec.mandatory', 'Offer "Nordic Youth Saver".spec.mandatory',
                 'DecisionFlow "Nordic Home".spec.isDefault'):
        assert path in message
    assert message == cli_error(api, words, "plan")
    before = api.snapshot()
    api.error(api.apply(words, "dryRun=false"), 400)
    assert api.snapshot() == before


# ------------------------------------------------------------------ H03
def test_h03_duplicate_keys_over_http(api: ApiEnv) -> None:
    apply_cli(api, H03, "base.yaml")
    for name in ("dup-label.yaml", "dup-spec.yaml", "dup-resource.yaml", "bundle.json"):
        path = case_file(H03, name)
        error = api.error(api.diff(path), 400)
        assert error["message"] == cli_error(api, path, "plan"), name
        assert error["details"] and error["details"][0]["line"]
    dup_spec = case_file(H03, "dup-spec.yaml")
    error = api.error(api.diff(yaml_text_body(dup_spec), ctype="application/json"), 400)
    assert error["message"] == cli_error(api, dup_spec, "plan", filename="<yamlText>")
    assert "priority" in error["message"] and ":18:" in error["message"]

    before = api.snapshot()
    api.error(api.apply(case_file(H03, "dup-resources-key.yaml"), "dryRun=false&prune=true"), 400)
    assert api.snapshot() == before and len(api.exported()) == 4


# ------------------------------------------------------------------ H04 (in-process parts)
def test_h04_alias_bomb_over_http(api: ApiEnv, tmp_path: Path) -> None:
    apply_cli(api, H04, "ok-anchors.yaml")
    bomb = case_file(H04, "bomb.yaml")
    started = time.monotonic()
    error = api.error(api.diff(bomb), 400)
    assert time.monotonic() - started < 2 and "alias" in error["message"] and "limit" in error["message"]
    started = time.monotonic()
    assert len(api.export()["resources"]) == 3 and time.monotonic() - started < 1

    blob = "x" * 65536
    wide = tmp_path / "wide.yaml"
    wide.write_text("manifest: {apiVersion: decisionform/v1, tenant: acme}\nresources:\n"
                    "  - apiVersion: decisionform/v1\n    kind: Offer\n    metadata: {name: Gold Card}\n"
                    "    spec:\n      category: Credit Cards\n"
                    f"      metadata: {{blob: &blob {blob}, copies: [{', '.join(['*blob'] * 100000)}]}}\n")
    assert api.diff(wide).status_code in (400, 413)
    deep_json = tmp_path / "deep.json"
    deep_json.write_text('{"manifest": {"apiVersion": "decisionform/v1"}, "resources": '
                         + "[" * 100000 + "]" * 100000 + "}")
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_text("resources: " + "[" * 100000 + "]" * 100000 + "\n")
    for path in (deep_json, deep_yaml):
        message = api.error(api.diff(path), 400)["message"]
        assert "deep" in message or "nesting" in message, message

    before = api.snapshot()
    api.error(api.apply(bomb, "dryRun=false"), 400)
    assert api.snapshot() == before


# ------------------------------------------------------------------ H05
def test_h05_explicit_defaults_are_no_change(api: ApiEnv) -> None:
    apply_cli(api, H05, "omitted.yaml")
    explicit = case_file(H05, "explicit.yaml")
    doc = api.ok(api.diff(explicit))
    assert doc["dryRun"] is True and doc["summary"] == summary(unchanged=7) and changes(doc) == []
    before = api.snapshot()
    applied = api.ok(api.apply(explicit, "dryRun=false"))
    assert applied["dryRun"] is False and applied["summary"] == summary(unchanged=7)
    assert api.snapshot() == before
    assert api.ok(api.diff(case_file(H05, "omitted.yaml")))["summary"] == summary(unchanged=7)


# ------------------------------------------------------------------ H06 F, and the audit write failing
@pytest.mark.parametrize("trigger", ["fail-offer", "fail-audit"])
def test_h06_failed_apply_is_a_clean_500_and_rolls_back(api: ApiEnv, trigger: str) -> None:
    apply_cli(api, H06, "base.yaml")
    bundle = case_file(H06, "bundle.yaml")
    api.run_sql_file(H06, trigger)
    before = api.snapshot()
    error = api.error(api.apply(bundle, "dryRun=false"), 500)
    assert error["code"] == "database_error" and "injected failure" in error["message"]
    assert api.snapshot() == before
    assert api.ok(api.diff(bundle))["summary"] == summary(created=3, updated=1)

    api.run_sql_file(H06, "remove")
    doc = api.ok(api.apply(bundle, "dryRun=false"))
    assert doc["dryRun"] is False and doc["summary"] == summary(created=3, updated=1)
    offers = {name for kind, name in api.exported() if kind == "Offer"}
    assert offers == {"Alpha Offer", "Beta Offer", "Boom Offer"}
    rows = [r for r in api.audit(action=None) if r["actor"] == "acme-editor-bot"]
    assert sorted(r["action"] for r in rows) == ["gitops_apply", *["gitops_create"] * 3, "gitops_update"]


# ------------------------------------------------------------------ H09
def test_h09_empty_bundles_never_prune_over_http(api: ApiEnv) -> None:
    apply_cli(api, H09, "base.yaml")
    before = api.snapshot()
    for name in ("empty.yaml", "comments-only.yaml", "empty-map.yaml", "manifest-only.yaml",
                 "null-resources.yaml", "typo-key.yaml"):
        path = case_file(H09, name)
        error = api.error(api.apply(path, "dryRun=false&prune=true"), 400)
        assert error["message"] == cli_error(api, path, "plan", "--prune"), name
    assert "resources" in api.error(api.apply(b"{}", "dryRun=false&prune=true", ctype="application/json"),
                                    400)["message"]
    explicit = case_file(H09, "explicit-empty.yaml")
    for query in ("dryRun=false&prune=true", "dryRun=true&prune=true", "prune=true"):
        error = api.error(api.apply(explicit, query), 400)
        assert error["code"] == "prune_refused" and "delete every" in error["message"]
    assert api.error(api.apply(explicit, "dryRun=false&prune=true&allowEmpty=true"), 400)["code"] == \
        "allow_empty_refused"
    assert api.snapshot() == before
    doc = api.ok(api.apply(explicit, "dryRun=false"))
    assert doc["summary"] == summary() and api.snapshot() == before


# ------------------------------------------------------------------ H10 E
def test_h10_prune_respects_kinds_and_ownership(api: ApiEnv) -> None:
    apply_cli(api, H10, "base.yaml")
    apply_cli(api, H10, "ui.yaml", "--state", str(api.cli.cwd / "ui.json"))
    doc = api.ok(api.apply(case_file(H10, "mixed.yaml"), "dryRun=false&prune=true&kinds=Channel"))
    assert doc["dryRun"] is False
    assert changes(doc) == [("create", "Channel", "SMS"), ("delete", "Channel", "Email")]
    exported = set(api.exported())
    assert ("Channel", "SMS") in exported and ("Channel", "Email") not in exported
    assert {("Category", "Credit Cards"), ("Offer", "Gold Card"), ("Offer", "Silver Card"),
            ("Offer", "UI Promo"), ("Channel", "Push UI")} <= exported

    before = api.snapshot()
    error = api.error(api.apply(case_file(H10, "mixed.yaml"), "dryRun=false&prune=true&kinds=Offer,Chanel"), 400)
    assert "Chanel" in error["message"] and "Channel" in error["message"]
    error = api.error(api.apply(case_file(H10, "one-invalid.yaml"), "dryRun=false&prune=true"), 400)
    assert 'Channel "Email".spec.channelType' in error["message"]
    error = api.error(api.apply(case_file(H10, "channels-only.yaml"), "dryRun=false&prune=true"), 400)
    assert 'Offer "UI Promo"' in error["message"]
    assert api.snapshot() == before


# ------------------------------------------------------------------ H11 F
def test_h11_diff_after_out_of_band_changes(api: ApiEnv) -> None:
    apply_cli(api, H11, "bundle.yaml")
    ui_state = str(api.cli.cwd / "ui.json")
    apply_cli(api, H11, "ui-1.yaml", "--state", ui_state)
    apply_cli(api, H11, "ui-2.yaml", "--prune", "--state", ui_state)
    before = api.snapshot()
    doc = api.ok(api.diff(case_file(H11, "bundle.yaml")))
    assert doc["summary"] == summary(created=2, updated=1, unchanged=2)
    assert comparable(doc) == comparable(cli_plan(api, H11, "bundle.yaml"))
    assert api.snapshot() == before


# ------------------------------------------------------------------ H12
def test_h12_previews_agree_and_never_write(api: ApiEnv) -> None:
    apply_cli(api, H12, "base.yaml")
    bundle = case_file(H12, "bundle.yaml")
    before = api.snapshot()
    plan = cli_plan(api, H12, "bundle.yaml")
    assert plan["summary"] == summary(updated=2, unchanged=1)
    expected = comparable(plan)
    for route, query in (("diff", ""), ("apply", ""), ("apply", "dryRun=true"), ("diff", "dryRun=false")):
        doc = api.ok(api.post(route, bundle, query))
        assert doc["dryRun"] is True and doc["summary"] == plan["summary"], (route, query)
        assert comparable(doc) == expected, (route, query)
    api.cli.ok("plan", str(bundle), "--out", "p.out")
    assert comparable(api.cli.ok("show", "p.out", "--format", "json").json()) == expected
    assert api.snapshot() == before

    for query in ("dryrun=false", "dry_run=false"):  # B.1: 400 naming the parameter
        error = api.error(api.apply(bundle, query), 400)
        assert error["code"] == "unknown_parameter" and query.split("=")[0] in error["message"]
    for query in ("dryRun=flase", "dryRun=", "dryRun=False", "dryRun=0", "dryRun=true&dryRun=false"):
        assert api.apply(bundle, query).status_code == 400, query  # B.2
    assert api.snapshot() == before

    doc = api.ok(api.apply(bundle, "dryRun=false"))  # C
    assert doc["dryRun"] is False and doc["summary"] == plan["summary"]
    assert [entry[:4] for entry in comparable(doc)] == [entry[:4] for entry in expected]
    exported = api.exported()
    gold = exported[("Offer", "Gold Card")]
    assert gold["metadata"]["labels"] == {"team": "cards"} and gold["spec"].get("shortDesc") is None
    assert gold["spec"]["tags"] == ["travel"] and gold["spec"]["schedule"].get("endDate") is None
    assert [p["name"] for p in exported[("Channel", "Email")]["spec"]["placements"]] == ["Newsletter Hero"]
    after = api.snapshot()
    assert after["rows"][("Category", "Credit Cards")] == before["rows"][("Category", "Credit Cards")]
    assert len(api.audit()) == 1 + [r["action"] for r in before["audit"]].count("gitops_apply")
    assert api.cli.run("plan", str(bundle), "--detailed-exitcode").code == 0
    assert api.ok(api.diff(bundle))["summary"] == summary(unchanged=3)
