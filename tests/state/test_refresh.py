"""``refresh``: text, markdown and JSON; exit codes; ``--update-state`` and its mass-deletion guard;
drift reports stored only when asked (``Engine.store_drift_report``)."""

from __future__ import annotations

import json
import shutil
from importlib import resources

import jsonschema
import pytest
from sqlalchemy import func, select

from decisionform.engine import Engine, Settings
from decisionform.providers.database import Database
from decisionform.providers.schema import drift_reports
from oob_helpers import assert_writes_nothing, serial, sql_delete, sql_update, state_doc, statuses
from support import CliEnv, case_file

H10 = "H10-prune-unmanaged-and-kinds"
H11 = "H11-out-of-band-delete-refresh"


@pytest.fixture
def drifted(cli: CliEnv) -> CliEnv:
    """H10's setup plus one change and one delete behind the engine's back."""
    for name in ("base.yaml", "ui.yaml"):
        shutil.copy(case_file(H10, name), cli.cwd / name)
    cli.ok("apply", "base.yaml", "--auto-approve")
    cli.ok("apply", "ui.yaml", "--auto-approve", "--state", "ui.json")
    sql_update(cli.url, "Offer", "Gold Card", priority=90, labels={"team": "growth"})
    sql_delete(cli.url, "Offer", "Silver Card", hard=False)
    return cli


def _report_rows(url: str) -> int:
    db = Database(url)
    try:
        with db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(drift_reports)).scalar_one())
    finally:
        db.dispose()


def test_json(drifted: CliEnv) -> None:
    result = drifted.run("refresh", "--format", "json", "--detailed-exitcode")
    assert result.code == 2, result
    doc = result.json()
    schema = json.loads(resources.files("decisionform.templates").joinpath("drift.v1.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["summary"] == {"changed": 1, "deleted": 1, "unmanaged": 2}
    assert statuses(doc) == {("Offer", "Gold Card"): "changed", ("Offer", "Silver Card"): "deleted",
                             ("Offer", "UI Promo"): "unmanaged", ("Channel", "Push UI"): "unmanaged"}
    gold = next(d for d in doc["drift"] if d["name"] == "Gold Card")
    assert sorted(gold["changedFields"]) == ["metadata.labels.team", "spec.priority"]
    assert gold["before"]["spec"]["priority"] == 50 and gold["after"]["spec"]["priority"] == 90
    assert doc["tenant"] == "acme"


def test_text_and_markdown(drifted: CliEnv) -> None:
    text = drifted.ok("refresh").out
    assert '~ Offer "Gold Card" changed outside decisionform' in text
    assert 'spec.priority: 50 → 90' in text and 'metadata.labels.team: "cards" → "growth"' in text
    assert '- Offer "Silver Card" deleted outside decisionform' in text
    assert 'Offer "UI Promo" unmanaged' in text and 'Channel "Push UI" unmanaged' in text
    assert "Drift: 1 changed, 1 deleted, 2 unmanaged." in text

    md = drifted.ok("refresh", "--format", "markdown").out
    assert "### decisionform drift" in md and "| **total** | **1** | **1** | **2** |" in md
    assert '`Offer "Silver Card"`' in md and '`Offer "UI Promo"`' in md and '`Channel "Push UI"`' in md
    assert "| `spec.priority` | `50` | `90` |" in md


def test_no_drift(cli: CliEnv) -> None:
    shutil.copy(case_file(H10, "base.yaml"), cli.cwd / "base.yaml")
    assert cli.run("refresh", "--detailed-exitcode").code == 0  # no state, no rows
    cli.ok("apply", "base.yaml", "--auto-approve")
    result = cli.run("refresh", "--detailed-exitcode")
    assert result.code == 0 and "No drift." in result.out, result
    doc = cli.run("refresh", "--format", "json", "--detailed-exitcode").json()
    assert doc["drift"] == [] and doc["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 0}
    assert "**No drift.**" in cli.ok("refresh", "--format", "markdown").out


def test_errors_exit_1(drifted: CliEnv) -> None:
    for env in ({"DECISIONFORM_TENANT": "nobody"}, {"DECISIONFORM_DATABASE_URL": "nosuch://x"}):
        result = drifted.run("refresh", "--detailed-exitcode", **env)
        assert result.code == 1 and result.err.startswith("Error:"), result
    result = drifted.run("refresh", "--detailed-exitcode", "--state", "broken.json")
    assert result.code == 2  # a missing state file is an empty state: every row is unmanaged
    (drifted.cwd / "broken.json").write_text("{not json")
    result = drifted.run("refresh", "--detailed-exitcode", "--state", "broken.json")
    assert result.code == 1 and "broken.json" in result.err, result


def test_plain_refresh_writes_nothing(drifted: CliEnv) -> None:
    for fmt in ("text", "markdown", "json"):
        assert_writes_nothing(drifted, lambda fmt=fmt: drifted.run("refresh", "--format", fmt))
    assert _report_rows(drifted.url) == 0


def test_update_state_accepts_managed_values_only(drifted: CliEnv) -> None:
    before = serial(drifted)
    drifted.ok("refresh", "--update-state")
    assert serial(drifted) == before + 1
    resources = state_doc(drifted)["resources"]
    assert sorted(resources) == ["Category.Credit Cards", "Channel.Email", "Offer.Gold Card"]
    assert resources["Offer.Gold Card"]["spec"]["priority"] == 90
    assert resources["Offer.Gold Card"]["metadata"]["labels"] == {"team": "growth"}
    doc = drifted.run("refresh", "--format", "json", "--detailed-exitcode")
    assert doc.code == 2 and doc.json()["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 2}
    assert _report_rows(drifted.url) == 0


# ------------------------------------------------------------------ the mass-deletion guard
@pytest.fixture
def five(cli: CliEnv) -> CliEnv:
    shutil.copy(case_file(H11, "bundle.yaml"), cli.cwd / "bundle.yaml")
    cli.ok("apply", "bundle.yaml", "--auto-approve")
    return cli


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_most_rows_missing_at_once_needs_force(five: CliEnv, hard: bool) -> None:
    for kind, name in (("Creative", "Silver Card - Email"), ("Offer", "Silver Card"), ("Offer", "Gold Card")):
        sql_delete(five.url, kind, name, hard=hard)
    result = assert_writes_nothing(five, lambda: five.run("refresh", "--update-state"))
    assert result.code == 1, result
    assert "3 of 5" in result.err and "wrong database or tenant" in result.err and "--force" in result.err
    # the report itself still comes out, and says what is missing
    doc = five.run("refresh", "--format", "json", "--detailed-exitcode")
    assert doc.code == 2 and doc.json()["summary"]["deleted"] == 3

    five.ok("refresh", "--update-state", "--force")
    assert sorted(state_doc(five)["resources"]) == ["Category.Credit Cards", "Channel.Email"]
    assert five.run("refresh", "--detailed-exitcode").code == 0


def test_a_few_rows_missing_need_no_force(five: CliEnv) -> None:
    sql_delete(five.url, "Creative", "Silver Card - Email", hard=True)
    sql_delete(five.url, "Offer", "Silver Card", hard=False)
    five.ok("refresh", "--update-state")
    assert len(state_doc(five)["resources"]) == 3


def test_the_wrong_tenant_or_database_is_refused(five: CliEnv, new_db_url) -> None:
    """A state file read against another tenant, or another database, sees everything missing."""
    five.ok("apply", "bundle.yaml", "--auto-approve", "--state", "main.json")
    before = (five.cwd / "main.json").read_bytes()
    five.ok("tenant", "create", "globex")
    other = new_db_url()
    for env in ({"DECISIONFORM_TENANT": "globex"}, {"DECISIONFORM_DATABASE_URL": other}):
        if "DECISIONFORM_DATABASE_URL" in env:
            five.ok("db", "upgrade", **env)
            five.ok("tenant", "create", "acme", **env)
        result = five.run("refresh", "--update-state", "--state", "main.json", **env)
        assert result.code == 1 and "wrong database or tenant" in result.err, result
        assert (five.cwd / "main.json").read_bytes() == before
        assert five.run("refresh", "--detailed-exitcode", "--state", "main.json", **env).code == 2


# ------------------------------------------------------------------ drift reports (item 5)
def test_drift_reports_are_stored_only_when_asked(drifted: CliEnv) -> None:
    engine = Engine(Settings(database_url=drifted.url, tenant="acme"))
    try:
        report = engine.refresh()
        assert _report_rows(drifted.url) == 0
        first = engine.store_drift_report(report)
        second = engine.store_drift_report(engine.refresh())
        assert second > first and _report_rows(drifted.url) == 2
        stored = engine.drift_reports()
        assert [r["id"] for r in stored] == [second, first]  # newest first
        assert stored[1]["summary"] == {"changed": 1, "deleted": 1, "unmanaged": 2}
        assert stored[1]["report"] == json.loads(json.dumps(report.to_document()))
        # another tenant has its own reports
        drifted.ok("tenant", "create", "globex")
        assert engine.for_tenant("globex").drift_reports() == []
    finally:
        engine.close()
    drifted.ok("refresh")
    drifted.ok("refresh", "--update-state")
    assert _report_rows(drifted.url) == 2
