"""H11 out-of-band-delete-refresh: rows edited or deleted behind the engine's back.

Every CLI step of the case README (parts A-E; F is HTTP, tested with the API),
on SQLite and PostgreSQL, with the out-of-band changes made each way the
README allows: a second state file, SQL soft delete, SQL hard ``DELETE``.
Plus the kind of fault: drift in labels, annotations, nested JSON and child
rows (placements), a rename, and a deleted row whose dependants remain.
"""

from __future__ import annotations

import shutil

import pytest

from oob_helpers import (
    assert_writes_nothing,
    change,
    changes,
    drift_items,
    offer_priority,
    serial,
    snapshot,
    sql_delete,
    sql_row,
    sql_update,
    state_doc,
    statuses,
    write_bundle,
)
from support import CliEnv, case_file

CASE = "H11-out-of-band-delete-refresh"
FILES = ("bundle.yaml", "bundle-silver-45.yaml", "bundle-without-silver.yaml", "ui-1.yaml", "ui-2.yaml")
OOB_WAYS = ["state-file", "sql-soft", "sql-hard"]
DRIFT = {("Offer", "Gold Card"): "changed", ("Offer", "Silver Card"): "deleted",
         ("Creative", "Silver Card - Email"): "deleted"}
B1 = [("update", "Offer", "Gold Card"), ("create", "Offer", "Silver Card"),
      ("create", "Creative", "Silver Card - Email")]


def out_of_band(cli: CliEnv, way: str) -> None:
    """The setup's two changes behind the main state's back."""
    if way == "state-file":
        assert cli.summary("apply", "ui-1.yaml", "--auto-approve", "--state", "ui.json")["updated"] == 1
        summary = cli.summary("apply", "ui-2.yaml", "--auto-approve", "--prune", "--state", "ui.json")
        assert summary["deleted"] == 2, summary
        return
    sql_update(cli.url, "Offer", "Gold Card", priority=90)
    hard = way == "sql-hard"
    sql_delete(cli.url, "Creative", "Silver Card - Email", hard=hard)
    sql_delete(cli.url, "Offer", "Silver Card", hard=hard)


@pytest.fixture
def fresh(cli: CliEnv) -> CliEnv:
    """Fresh database; bundle.yaml applied."""
    for name in FILES:
        shutil.copy(case_file(CASE, name), cli.cwd / name)
    assert cli.summary("apply", "bundle.yaml", "--auto-approve")["created"] == 5
    return cli


@pytest.fixture(params=OOB_WAYS)
def h11(fresh: CliEnv, request: pytest.FixtureRequest) -> CliEnv:
    """The case setup, made each way."""
    out_of_band(fresh, request.param)
    return fresh


def _refresh(cli: CliEnv, expect: int) -> dict:
    result = cli.run("refresh", "--format", "json", "--detailed-exitcode")
    assert result.code == expect, result
    assert "not found" not in result.err.lower(), result
    return result.json()


# ------------------------------------------------------------------ A
def test_a_refresh_reports_the_drift_and_does_not_fail(h11: CliEnv) -> None:
    doc = _refresh(h11, 2)
    assert doc["summary"] == {"changed": 1, "deleted": 2, "unmanaged": 0}
    assert statuses(doc) == DRIFT
    assert "spec.priority" in drift_items(doc)[("Offer", "Gold Card")]["changedFields"]
    assert doc["tenant"] == "acme" and doc["formatVersion"]

    again = assert_writes_nothing(h11, lambda: _refresh(h11, 2))
    assert again["drift"] == doc["drift"] and again["summary"] == doc["summary"]
    for fmt in ("text", "markdown"):
        result = assert_writes_nothing(h11, lambda fmt=fmt: h11.run("refresh", "--format", fmt))
        assert result.code == 0, result
        assert "Gold Card" in result.out and "Silver Card - Email" in result.out


# ------------------------------------------------------------------ B
def test_b_plan_and_apply_repair_it(h11: CliEnv) -> None:
    result = h11.run("plan", "bundle.yaml", "--out", "p.out", "--format", "json")
    assert result.code == 0, result
    doc = result.json()
    assert doc["summary"] == {"created": 2, "updated": 1, "deleted": 0, "unchanged": 2}
    assert changes(doc) == B1  # the offer is created before its creative
    gold = change(doc, "Offer", "Gold Card")
    assert gold["changedFields"] == ["spec.priority"]
    assert gold["before"]["spec"]["priority"] == 90 and gold["after"]["spec"]["priority"] == 50
    # no update or delete addresses a vanished row
    assert [op for op, _, name in changes(doc) if name.startswith("Silver Card")] == ["create", "create"]

    before = serial(h11)
    h11.ok("apply", "p.out")
    assert serial(h11) == before + 1
    rows = h11.exported()
    assert len(rows) == 5
    assert rows[("Offer", "Gold Card")]["spec"]["priority"] == 50
    assert rows[("Offer", "Silver Card")]["spec"]["priority"] == 40
    creative = rows[("Creative", "Silver Card - Email")]["spec"]
    assert (creative["offer"], creative["channel"], creative["placement"]) == ("Silver Card", "Email",
                                                                               "Newsletter Hero")

    assert h11.run("plan", "bundle.yaml", "--detailed-exitcode").code == 0
    assert h11.run("refresh", "--detailed-exitcode").code == 0


def test_b_a_soft_deleted_row_is_restored_not_duplicated(fresh: CliEnv) -> None:
    original = sql_row(fresh.url, "Offer", "Silver Card")
    assert original is not None
    out_of_band(fresh, "sql-soft")
    fresh.ok("apply", "bundle.yaml", "--auto-approve")
    restored = sql_row(fresh.url, "Offer", "Silver Card")
    assert restored is not None and restored["id"] == original["id"]
    assert restored["version"] > original["version"]


# ------------------------------------------------------------------ C
def test_c_update_state_accepts_the_drift(h11: CliEnv) -> None:
    before = serial(h11)
    h11.ok("refresh", "--update-state")
    assert serial(h11) == before + 1
    doc = _refresh(h11, 0)
    assert doc["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 0} and doc["drift"] == []

    resources = state_doc(h11)["resources"]
    assert resources["Offer.Gold Card"]["spec"]["priority"] == 90
    assert "Offer.Silver Card" not in resources and "Creative.Silver Card - Email" not in resources
    assert set(resources) == {"Category.Credit Cards", "Offer.Gold Card", "Channel.Email"}

    result = h11.run("plan", "bundle.yaml", "--format", "json")
    assert result.code == 0, result
    assert changes(result.json()) == B1
    assert result.json()["summary"] == {"created": 2, "updated": 1, "deleted": 0, "unchanged": 2}

    # nothing more to accept: a second --update-state writes nothing
    assert_writes_nothing(h11, lambda: h11.ok("refresh", "--update-state"))


# ------------------------------------------------------------------ D
@pytest.mark.parametrize("way", OOB_WAYS)
def test_d_a_saved_plan_whose_row_vanished_is_stale(fresh: CliEnv, way: str) -> None:
    result = fresh.run("plan", "bundle-silver-45.yaml", "--out", "q.out", "--format", "json")
    assert result.code == 0, result
    assert result.json()["summary"] == {"created": 0, "updated": 1, "deleted": 0, "unchanged": 4}
    assert changes(result.json()) == [("update", "Offer", "Silver Card")]

    out_of_band(fresh, way)
    result = assert_writes_nothing(fresh, lambda: fresh.run("apply", "q.out"))
    assert result.code == 1, result
    assert "plan is stale" in result.err.lower() and 'Offer "Silver Card"' in result.err, result
    assert ("Offer", "Silver Card") not in fresh.exported()
    assert offer_priority(fresh, "Gold Card") == 90


# ------------------------------------------------------------------ E
def test_e_prune_when_the_rows_are_already_gone(h11: CliEnv) -> None:
    result = h11.run("plan", "bundle-without-silver.yaml", "--prune", "--out", "r.out", "--format", "json")
    assert result.code == 0, result
    doc = result.json()
    assert doc["summary"] == {"created": 0, "updated": 1, "deleted": 0, "unchanged": 2}
    assert changes(doc) == [("update", "Offer", "Gold Card")]
    gold = change(doc, "Offer", "Gold Card")
    assert (gold["before"]["spec"]["priority"], gold["after"]["spec"]["priority"]) == (90, 50)

    result = h11.run("apply", "r.out")
    assert result.code == 0 and "not found" not in result.err.lower(), result

    doc = _refresh(h11, 0)
    assert doc["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 0}
    assert set(state_doc(h11)["resources"]) == {"Category.Credit Cards", "Offer.Gold Card", "Channel.Email"}
    assert h11.run("plan", "bundle-without-silver.yaml", "--prune", "--detailed-exitcode").code == 0


def test_e_forgetting_vanished_rows_alone_is_an_apply(h11: CliEnv) -> None:
    """A prune plan whose only effect is dropping vanished rows from state still records it."""
    text = (h11.cwd / "bundle-without-silver.yaml").read_text().replace("priority: 50", "priority: 90")
    (h11.cwd / "without-silver-90.yaml").write_text(text)
    result = h11.run("plan", "without-silver-90.yaml", "--prune", "--format", "json", "--detailed-exitcode")
    assert result.code == 0 and changes(result.json()) == [], result
    h11.ok("apply", "without-silver-90.yaml", "--prune", "--auto-approve")
    assert _refresh(h11, 0)["drift"] == []


# ------------------------------------------------------------------ the kind of fault
def test_drift_in_labels_annotations_and_nested_json(fresh: CliEnv) -> None:
    sql_update(fresh.url, "Offer", "Gold Card", labels={"team": "growth"}, annotations={"owner": "ui"},
               budget={"dailyCapCents": 500}, eligibility={"segments": {"include": ["vip"]}})
    sql_update(fresh.url, "Creative", "Silver Card - Email",
               content={"subject": "Silver Card: no annual fee", "ctaText": "Apply today"})
    doc = assert_writes_nothing(fresh, lambda: _refresh(fresh, 2))
    assert doc["summary"] == {"changed": 2, "deleted": 0, "unmanaged": 0}
    items = drift_items(doc)
    gold = set(items[("Offer", "Gold Card")]["changedFields"])
    assert {"metadata.labels.team", "metadata.annotations.owner", "spec.budget.dailyCapCents"} <= gold, gold
    assert any(p.startswith("spec.eligibility") for p in gold), gold
    assert items[("Creative", "Silver Card - Email")]["changedFields"] == ["spec.content.ctaText"]
    assert items[("Offer", "Gold Card")]["after"]["metadata"]["labels"] == {"team": "growth"}

    fresh.ok("refresh", "--update-state")
    entry = fresh.ok("state", "show", "Offer.Gold Card").json()
    assert entry["metadata"]["labels"] == {"team": "growth"}
    assert entry["spec"]["budget"] == {"dailyCapCents": 500}
    assert _refresh(fresh, 0)["drift"] == []
    # the bundle still wants its own values: the plan puts them back
    result = fresh.run("plan", "bundle.yaml", "--format", "json")
    assert sorted(changes(result.json())) == [("update", "Creative", "Silver Card - Email"),
                                              ("update", "Offer", "Gold Card")]


def test_drift_in_a_child_row(fresh: CliEnv) -> None:
    """A placement edited in its own table shows as a path inside the channel's spec."""
    from sqlalchemy import update

    from decisionform.providers.database import Database
    from decisionform.providers.schema import placements

    db = Database(fresh.url)
    try:
        with db.write() as conn:
            conn.execute(update(placements).values(max_slots=3, version=placements.c.version + 1))
    finally:
        db.dispose()
    doc = _refresh(fresh, 2)
    assert statuses(doc) == {("Channel", "Email"): "changed"}
    assert drift_items(doc)[("Channel", "Email")]["changedFields"] == ["spec.placements[0].maxSlots"]


def test_a_rename_behind_the_engines_back(fresh: CliEnv) -> None:
    sql_update(fresh.url, "Offer", "Gold Card", name="Gold Card Plus")
    doc = _refresh(fresh, 2)
    assert statuses(doc) == {("Offer", "Gold Card"): "deleted", ("Offer", "Gold Card Plus"): "unmanaged"}
    result = fresh.run("plan", "bundle.yaml", "--prune", "--format", "json")
    assert result.code == 0, result
    assert changes(result.json()) == [("create", "Offer", "Gold Card")]  # the renamed row is not ours
    fresh.ok("apply", "bundle.yaml", "--prune", "--auto-approve")
    assert {("Offer", "Gold Card"), ("Offer", "Gold Card Plus")} <= set(fresh.exported())
    assert statuses(_refresh(fresh, 2)) == {("Offer", "Gold Card Plus"): "unmanaged"}


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_an_offer_deleted_while_its_creative_stays(fresh: CliEnv, hard: bool) -> None:
    """The UI deleted the offer but not its creative: refresh and plan still work and say so."""
    if hard:  # a hard DELETE must not break the foreign key: point the creative elsewhere first
        gold_id = sql_row(fresh.url, "Offer", "Gold Card")["id"]  # type: ignore[index]
        sql_update(fresh.url, "Creative", "Silver Card - Email", offer_id=gold_id)
    sql_delete(fresh.url, "Offer", "Silver Card", hard=hard)
    doc = _refresh(fresh, 2)
    assert statuses(doc)[("Offer", "Silver Card")] == "deleted"
    result = fresh.run("plan", "bundle.yaml", "--format", "json")
    assert result.code == 0, result
    assert ("create", "Offer", "Silver Card") in changes(result.json())
    fresh.ok("apply", "bundle.yaml", "--auto-approve")
    assert fresh.run("plan", "bundle.yaml", "--detailed-exitcode").code == 0
    assert fresh.run("refresh", "--detailed-exitcode").code == 0


@pytest.mark.parametrize("way", OOB_WAYS)
def test_refresh_with_a_state_file(cli: CliEnv, way: str) -> None:
    """The same drift against a JSON state file (``--state``), which refresh never writes."""
    for name in FILES:
        shutil.copy(case_file(CASE, name), cli.cwd / name)
    main = {"DECISIONFORM_STATE": "main.json"}
    cli.ok("apply", "bundle.yaml", "--auto-approve", **main)
    out_of_band(cli, way)
    before = (cli.cwd / "main.json").read_bytes()
    result = cli.run("refresh", "--format", "json", "--detailed-exitcode", **main)
    assert result.code == 2, result
    assert statuses(result.json()) == DRIFT
    assert (cli.cwd / "main.json").read_bytes() == before
    cli.ok("refresh", "--update-state", **main)
    assert cli.run("refresh", "--detailed-exitcode", **main).code == 0
    assert snapshot(cli).locks.strip() == "No locks held."


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_an_offer_deleted_under_a_flows_json_reference(cli: CliEnv, hard: bool) -> None:
    """Ids inside JSON (flow nodes) have no foreign key: a hard DELETE leaves a dangling id."""
    category = {"kind": "Category", "name": "Credit Cards", "spec": {"status": "active"}}
    gold = {"kind": "Offer", "name": "Gold Card", "spec": {"category": "Credit Cards", "priority": 50}}
    silver = {"kind": "Offer", "name": "Silver Card", "spec": {"category": "Credit Cards", "priority": 40}}
    flow = {"kind": "DecisionFlow", "name": "Home", "spec": {"key": "home", "nodes": [
        {"id": "inv", "type": "inventory", "phase": 1, "config": {"offers": ["Silver Card", "Gold Card"]}},
        {"id": "out", "type": "response", "phase": 3, "config": {}}]}}
    write_bundle(cli.cwd / "all.json", [category, gold, silver, flow])
    cli.ok("apply", "all.json", "--auto-approve")
    sql_delete(cli.url, "Offer", "Gold Card", hard=hard)

    doc = _refresh(cli, 2)
    if hard:  # the flow now points at nothing: a change inside its nested JSON
        assert statuses(doc) == {("Offer", "Gold Card"): "deleted", ("DecisionFlow", "Home"): "changed"}
        assert drift_items(doc)[("DecisionFlow", "Home")]["changedFields"] == ["spec.nodes[0].config.offers[1]"]
    else:  # the soft-deleted row still names it
        assert statuses(doc) == {("Offer", "Gold Card"): "deleted"}

    result = cli.run("plan", "all.json", "--format", "json")
    assert result.code == 0, result
    expected = [("create", "Offer", "Gold Card")] + ([("update", "DecisionFlow", "Home")] if hard else [])
    assert changes(result.json()) == expected
    cli.ok("apply", "all.json", "--auto-approve")
    assert cli.run("plan", "all.json", "--detailed-exitcode").code == 0
    assert cli.run("refresh", "--detailed-exitcode").code == 0


def test_cells_no_column_type_reads_are_drift_not_a_failure(fresh: CliEnv) -> None:
    """SQLite keeps any text: a JSON column holding no JSON, a boolean 'yes', a timestamp 'garbage'.
    Every command still runs; the row reads as drift, and apply writes it back whole."""
    if not fresh.url.startswith("sqlite"):
        pytest.skip("PostgreSQL refuses such values itself")
    import sqlite3

    conn = sqlite3.connect(fresh.url.removeprefix("sqlite:///"))
    conn.execute("UPDATE offers SET tags = '{not json', mandatory = 'yes', updated_at = 'garbage', "
                 "version = version + 1 WHERE name = 'Gold Card'")
    conn.commit()
    conn.close()
    doc = _refresh(fresh, 2)
    assert statuses(doc) == {("Offer", "Gold Card"): "changed"}
    result = fresh.run("plan", "bundle.yaml", "--format", "json")
    assert result.code == 0, result
    assert changes(result.json()) == [("update", "Offer", "Gold Card")]
    assert 'Offer "Gold Card".spec' in result.err and "read as stored" in result.err  # named, as H11 rows are
    assert fresh.summary("apply", "bundle.yaml", "--auto-approve")["updated"] == 1
    assert fresh.summary("plan", "bundle.yaml") == {"created": 0, "updated": 0, "deleted": 0, "unchanged": 5}
    row = sql_row(fresh.url, "Offer", "Gold Card")
    assert row is not None and row["tags"] == [] and row["mandatory"] in (False, None)
