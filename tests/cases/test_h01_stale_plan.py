"""H01 stale-plan-reapply (CLI parts A-E), on SQLite and PostgreSQL.

A saved plan with changes applies at most once, and never after a row it covers or the
state (serial, lineage) moved: apply then exits 1 with "plan is stale" / "already
applied", naming what moved, and writes nothing. A plan with no changes may be applied
again harmlessly. Beyond the handed example, the staleness is provoked every way the
case's conventions allow: an edit, a soft delete, a hard DELETE, a replaced row, a create
of the same name (through a second state file and through SQL), a moved serial (another
apply, ``state rm``) and a replaced state file (new lineage, same serial).
"""

from __future__ import annotations

import json

import pytest
from h_support import (
    RawSql,
    assert_nothing_written,
    assert_refused,
    changes_of,
    ops_of,
    snapshot,
    stale_or_applied,
    summary_of,
)

from support import CliEnv, case_file

CASE = "H01-stale-plan-reapply"
BUNDLE = case_file(CASE, "bundle.yaml")
V2 = case_file(CASE, "bundle-v2.yaml")
V3 = case_file(CASE, "bundle-v3.yaml")
UI_EDIT = case_file(CASE, "ui-edit.yaml")

CAT = ("Category", "Credit Cards")
GOLD = ("Offer", "Gold Card")


def S(created: int = 0, updated: int = 0, deleted: int = 0, unchanged: int = 0) -> dict[str, int]:
    return {"created": created, "updated": updated, "deleted": deleted, "unchanged": unchanged}


@pytest.fixture
def sql(cli: CliEnv) -> RawSql:
    return RawSql(cli.url)


def _two_resources(cli: CliEnv) -> dict:
    rows = cli.exported()
    assert sorted(rows) == [CAT, GOLD]
    return rows


# ====================================================================== A
def part_a(cli: CliEnv, sql: RawSql) -> None:
    planned = cli.ok("plan", BUNDLE, "--out", "plan.out", "--format", "json")
    assert summary_of(planned) == S(created=2)
    assert ops_of(planned) == [("Category", "Credit Cards", "create"), ("Offer", "Gold Card", "create")]

    shown = cli.ok("show", "plan.out", "--format", "json").json()
    for key in ("planId", "diffs", "summary"):
        assert shown[key] == planned.json()[key], key

    cli.ok("apply", "plan.out")
    rows = _two_resources(cli)
    assert rows[GOLD]["spec"]["category"] == "Credit Cards"
    assert rows[GOLD]["spec"]["priority"] == 50

    before = snapshot(cli, sql)
    stale_or_applied(cli.run("apply", "plan.out"))
    after = snapshot(cli, sql)
    assert_nothing_written(before, after)
    assert after.serial == before.serial
    _two_resources(cli)

    again = cli.run("plan", BUNDLE, "--format", "json", "--detailed-exitcode")
    assert again.code == 0, again
    assert summary_of(again) == S(unchanged=2)


def test_a_plan_on_never_applied_tenant_applies_once(cli: CliEnv, sql: RawSql) -> None:
    part_a(cli, sql)


# ====================================================================== B
def test_b_state_files_then_a_second_empty_state(cli: CliEnv, sql: RawSql) -> None:
    assert not (cli.cwd / "s1.json").exists()
    planned = cli.ok("plan", BUNDLE, "--state", "s1.json", "--out", "f.out", "--format", "json")
    assert summary_of(planned) == S(created=2)
    assert not (cli.cwd / "s1.json").exists(), "plan must not write the state file"

    cli.ok("apply", "f.out", "--state", "s1.json")
    s1 = json.loads((cli.cwd / "s1.json").read_text())
    assert set(s1["resources"]) == {"Category.Credit Cards", "Offer.Gold Card"}

    before = snapshot(cli, sql, "s1.json")
    stale_or_applied(cli.run("apply", "f.out", "--state", "s1.json"))
    assert_nothing_written(before, snapshot(cli, sql, "s1.json"))

    before = snapshot(cli, sql, "s2.json")
    assert before.state is None
    stale_or_applied(cli.run("apply", "f.out", "--state", "s2.json"))
    assert_nothing_written(before, snapshot(cli, sql, "s2.json"))
    assert not (cli.cwd / "s2.json").exists()
    _two_resources(cli)


# ====================================================================== C, D, E
def part_c(cli: CliEnv, sql: RawSql) -> None:
    p1 = cli.ok("plan", V2, "--out", "p1.out", "--format", "json")
    assert summary_of(p1) == S(updated=1, unchanged=1)
    [change] = changes_of(p1)
    assert (change["kind"], change["name"], change["op"]) == ("Offer", "Gold Card", "update")
    assert change["changedFields"] == ["spec.priority"]
    assert change["before"]["spec"]["priority"] == 50
    assert change["after"]["spec"]["priority"] == 60

    p2 = cli.ok("plan", V3, "--out", "p2.out", "--format", "json")
    assert summary_of(p2) == S(updated=1, unchanged=1)
    [change] = changes_of(p2)
    assert (change["kind"], change["name"], change["op"]) == ("Category", "Credit Cards", "update")
    assert change["changedFields"] == ["spec.description"]

    cli.ok("apply", "p1.out")

    before = snapshot(cli, sql)
    assert_refused(cli.run("apply", "p2.out"), "plan is stale")
    assert_nothing_written(before, snapshot(cli, sql))
    rows = cli.exported()
    assert rows[CAT]["spec"]["description"] == "Revolving credit products"
    assert rows[GOLD]["spec"]["priority"] == 60

    p3 = cli.ok("plan", V3, "--out", "p3.out", "--format", "json")
    assert summary_of(p3) == S(updated=2)
    by_name = {c["name"]: c for c in changes_of(p3)}
    assert by_name["Credit Cards"]["changedFields"] == ["spec.description"]
    assert by_name["Gold Card"]["changedFields"] == ["spec.priority"]
    assert (by_name["Gold Card"]["before"]["spec"]["priority"], by_name["Gold Card"]["after"]["spec"]["priority"]) \
        == (60, 50)
    cli.ok("apply", "p3.out")
    rows = cli.exported()
    assert rows[CAT]["spec"]["description"] == "All revolving credit products"
    assert rows[GOLD]["spec"]["priority"] == 50


def ui_edits_category(cli: CliEnv, sql: RawSql, way: str) -> None:
    """D.2: the UI changes the category's description; the main state's serial does not move."""
    serial = snapshot(cli, sql).serial
    if way == "state-file":
        assert summary_of(cli.ok("apply", UI_EDIT, "--auto-approve", "--state", "ui.json", "--format", "json")) \
            ["updated"] == 1
    else:
        sql.ui_update("Category", "Credit Cards", description="Cards (UI edit)")
    assert snapshot(cli, sql).serial == serial


def part_d(cli: CliEnv, sql: RawSql, way: str) -> None:
    p4 = cli.ok("plan", V2, "--out", "p4.out", "--format", "json")
    assert summary_of(p4) == S(updated=2)
    by_name = {c["name"]: c for c in changes_of(p4)}
    assert by_name["Credit Cards"]["changedFields"] == ["spec.description"]
    assert by_name["Credit Cards"]["after"]["spec"]["description"] == "Revolving credit products"
    assert by_name["Gold Card"]["changedFields"] == ["spec.priority"]
    assert (by_name["Gold Card"]["before"]["spec"]["priority"], by_name["Gold Card"]["after"]["spec"]["priority"]) \
        == (50, 60)

    ui_edits_category(cli, sql, way)

    before = snapshot(cli, sql)
    refused = cli.run("apply", "p4.out")
    assert_refused(refused, "plan is stale")
    assert 'Category "Credit Cards"' in refused.err
    assert "version" in refused.err or "spec.description" in refused.err
    assert 'Offer "Gold Card"' not in refused.err
    assert_nothing_written(before, snapshot(cli, sql))
    rows = cli.exported()
    assert rows[CAT]["spec"]["description"] == "Cards (UI edit)"
    assert rows[GOLD]["spec"]["priority"] == 50


def part_e(cli: CliEnv, sql: RawSql) -> None:
    applied = cli.ok("apply", V2, "--auto-approve", "--format", "json")
    assert summary_of(applied)["updated"] == 2
    rows = cli.exported()
    assert rows[CAT]["spec"]["description"] == "Revolving credit products"
    assert rows[GOLD]["spec"]["priority"] == 60

    p6 = cli.run("plan", V2, "--out", "p6.out", "--format", "json", "--detailed-exitcode")
    assert p6.code == 0, p6
    assert summary_of(p6) == S(unchanged=2)

    for _ in range(2):
        before = snapshot(cli, sql)
        cli.ok("apply", "p6.out")
        assert_nothing_written(before, snapshot(cli, sql))

    drift = cli.run("refresh", "--format", "json", "--detailed-exitcode")
    assert drift.code == 0, drift
    assert drift.json()["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 0}


@pytest.mark.parametrize("way", ["state-file", "sql"])
def test_c_d_e_two_plans_ui_edit_and_noop_reapply(cli: CliEnv, sql: RawSql, way: str) -> None:
    part_a(cli, sql)
    part_c(cli, sql)
    part_d(cli, sql, way)
    part_e(cli, sql)


# ====================================================================== variations
BUNDLE_CATEGORY_ONLY = """\
manifest: {apiVersion: decisionform/v1, tenant: acme}
resources:
  - apiVersion: decisionform/v1
    kind: Category
    metadata: {name: Credit Cards, labels: {team: cards}}
    spec: {description: Revolving credit products, icon: credit-card, status: active, ordinal: 1}
"""

PLATINUM = """\
  - apiVersion: decisionform/v1
    kind: Offer
    metadata: {name: Platinum Card}
    spec: {category: Credit Cards, status: active, priority: PRIORITY}
"""


def _bundle_with_platinum(priority: int) -> str:
    return BUNDLE.read_text() + PLATINUM.replace("PRIORITY", str(priority))


def _applied_base(cli: CliEnv) -> None:
    cli.ok("apply", BUNDLE, "--auto-approve")


def _ui_deletes_offer(cli: CliEnv, sql: RawSql, way: str) -> None:
    if way == "state-file":
        # The UI's own state adopts the rows, then prunes the offer: a delete through the engine.
        cli.ok("apply", BUNDLE, "--auto-approve", "--state", "ui.json")
        (cli.cwd / "ui-category.yaml").write_text(BUNDLE_CATEGORY_ONLY)
        pruned = cli.ok("apply", "ui-category.yaml", "--auto-approve", "--prune", "--state", "ui.json",
                        "--format", "json")
        assert summary_of(pruned)["deleted"] == 1
    elif way == "soft-delete":
        sql.ui_soft_delete(*GOLD)
    else:
        sql.ui_hard_delete(*GOLD)
    assert GOLD not in cli.exported()


@pytest.mark.parametrize("way", ["state-file", "soft-delete", "hard-delete"])
def test_stale_when_a_covered_row_was_deleted(cli: CliEnv, sql: RawSql, way: str) -> None:
    _applied_base(cli)
    assert summary_of(cli.ok("plan", V2, "--out", "p.out", "--format", "json")) == S(updated=1, unchanged=1)
    _ui_deletes_offer(cli, sql, way)

    before = snapshot(cli, sql)
    refused = cli.run("apply", "p.out")
    assert_refused(refused, "plan is stale", "deleted")
    assert 'Offer "Gold Card"' in refused.err
    assert 'Category "Credit Cards"' not in refused.err
    assert_nothing_written(before, snapshot(cli, sql))
    assert GOLD not in cli.exported(), "a stale apply must not bring the deleted row back"


@pytest.mark.parametrize("way", ["soft-delete", "hard-delete"])
def test_stale_when_a_row_was_replaced_by_another_of_the_same_name(cli: CliEnv, sql: RawSql, way: str) -> None:
    _applied_base(cli)
    assert summary_of(cli.ok("plan", V2, "--out", "p.out", "--format", "json"))["updated"] == 1
    old_version = sql.version_of(*GOLD)
    if way == "soft-delete":
        sql.ui_soft_delete(*GOLD)
    else:
        sql.ui_hard_delete(*GOLD)
    sql.ui_insert_offer("Gold Card", "Credit Cards", 50, "off_uireplacement000001")
    # The new row may even carry the same version number: only its identity differs.
    sql.execute("UPDATE offers SET version = :v WHERE id = 'off_uireplacement000001'", v=old_version)

    before = snapshot(cli, sql)
    refused = cli.run("apply", "p.out")
    assert_refused(refused, "plan is stale")
    assert 'Offer "Gold Card"' in refused.err
    assert_nothing_written(before, snapshot(cli, sql))


def test_stale_when_a_row_to_delete_was_edited(cli: CliEnv, sql: RawSql) -> None:
    _applied_base(cli)
    (cli.cwd / "category.yaml").write_text(BUNDLE_CATEGORY_ONLY)
    planned = cli.ok("plan", "category.yaml", "--prune", "--out", "p.out", "--format", "json")
    assert ops_of(planned) == [("Offer", "Gold Card", "delete")]
    sql.ui_update("Offer", "Gold Card", priority=77)

    before = snapshot(cli, sql)
    refused = cli.run("apply", "p.out")
    assert_refused(refused, "plan is stale")
    assert 'Offer "Gold Card"' in refused.err
    assert_nothing_written(before, snapshot(cli, sql))
    assert cli.exported()[GOLD]["spec"]["priority"] == 77


@pytest.mark.parametrize("way", ["state-file", "sql"])
def test_stale_when_a_resource_to_create_was_created_meanwhile(cli: CliEnv, sql: RawSql, way: str) -> None:
    _applied_base(cli)
    (cli.cwd / "plus.yaml").write_text(_bundle_with_platinum(40))
    planned = cli.ok("plan", "plus.yaml", "--out", "p.out", "--format", "json")
    assert ops_of(planned) == [("Offer", "Platinum Card", "create")]

    if way == "state-file":
        (cli.cwd / "ui.yaml").write_text("manifest: {apiVersion: decisionform/v1, tenant: acme}\nresources:\n"
                                         + PLATINUM.replace("PRIORITY", "70"))
        cli.ok("apply", "ui.yaml", "--auto-approve", "--state", "ui.json")
    else:
        sql.ui_insert_offer("Platinum Card", "Credit Cards", 70, "off_uicreated0000000001")

    before = snapshot(cli, sql)
    refused = cli.run("apply", "p.out")
    assert_refused(refused, "plan is stale")
    assert 'Offer "Platinum Card"' in refused.err
    assert 'Offer "Gold Card"' not in refused.err
    assert_nothing_written(before, snapshot(cli, sql))
    assert sql.live_names("Offer").count("Platinum Card") == 1, "no duplicate"
    assert cli.exported()[("Offer", "Platinum Card")]["spec"]["priority"] == 70, "the UI's row survives"


@pytest.mark.parametrize("mover", ["targeted-apply", "state-rm"])
def test_stale_when_only_the_state_serial_moved(cli: CliEnv, sql: RawSql, mover: str) -> None:
    _applied_base(cli)
    planned = cli.ok("plan", V2, "--out", "p.out", "--format", "json")
    assert ops_of(planned) == [("Offer", "Gold Card", "update")]
    serial = snapshot(cli, sql).serial
    if mover == "targeted-apply":
        cli.ok("apply", V3, "--auto-approve", "--target", "Category.Credit Cards")
    else:
        cli.ok("state", "rm", "Category.Credit Cards")
    assert snapshot(cli, sql).serial == serial + 1

    before = snapshot(cli, sql)
    refused = cli.run("apply", "p.out")
    assert_refused(refused, "plan is stale", "serial")
    assert_nothing_written(before, snapshot(cli, sql))
    assert cli.exported()[GOLD]["spec"]["priority"] == 50


def test_stale_when_the_state_file_serial_moved(cli: CliEnv, sql: RawSql) -> None:
    cli.ok("apply", BUNDLE, "--auto-approve", "--state", "s.json")
    cli.ok("plan", V2, "--out", "p.out", "--state", "s.json")
    cli.ok("apply", V3, "--auto-approve", "--state", "s.json", "--target", "Category.Credit Cards")

    before = snapshot(cli, sql, "s.json")
    refused = cli.run("apply", "p.out", "--state", "s.json")
    assert_refused(refused, "plan is stale", "serial")
    assert_nothing_written(before, snapshot(cli, sql, "s.json"))


def test_stale_when_the_state_file_was_replaced(cli: CliEnv, sql: RawSql) -> None:
    """Same serial, another lineage: a different state than the plan was made against."""
    cli.ok("apply", BUNDLE, "--auto-approve", "--state", "s.json")
    cli.ok("plan", V2, "--out", "p.out", "--state", "s.json")
    old = snapshot(cli, sql, "s.json")
    (cli.cwd / "s.json").unlink()
    cli.ok("apply", BUNDLE, "--auto-approve", "--state", "s.json")  # adopts the rows: a new lineage
    new = snapshot(cli, sql, "s.json")
    assert new.serial == old.serial

    refused = cli.run("apply", "p.out", "--state", "s.json")
    assert_refused(refused, "plan is stale", "lineage")
    assert_nothing_written(new, snapshot(cli, sql, "s.json"))


def test_plan_with_changes_applies_once_even_after_a_later_plan(cli: CliEnv, sql: RawSql) -> None:
    """Reapplying an old, already applied plan is refused even when the rows look as it wants them."""
    cli.ok("plan", BUNDLE, "--out", "first.out")
    cli.ok("apply", "first.out")
    cli.ok("apply", V2, "--auto-approve")
    cli.ok("apply", BUNDLE, "--auto-approve")  # back to what first.out wanted

    before = snapshot(cli, sql)
    stale_or_applied(cli.run("apply", "first.out"))
    assert_nothing_written(before, snapshot(cli, sql))


def test_stale_when_a_ui_edit_left_the_version_alone(cli: CliEnv, sql: RawSql) -> None:
    """The plan carries each row's digest, not only its version: a content change is seen anyway."""
    _applied_base(cli)
    cli.ok("plan", V2, "--out", "p.out")
    sql.execute("UPDATE offers SET product_type = 'charge_card' WHERE name = 'Gold Card'")

    before = snapshot(cli, sql)
    refused = cli.run("apply", "p.out")
    assert_refused(refused, "plan is stale", "spec.productType")
    assert 'Offer "Gold Card"' in refused.err
    assert_nothing_written(before, snapshot(cli, sql))


@pytest.mark.parametrize("how", ["new-state-file", "state-rm"])
def test_a_no_change_plan_that_only_records_state_applies_again(cli: CliEnv, sql: RawSql, how: str) -> None:
    """0 changes, but state does not know the rows yet: the first apply records them, later ones write nothing."""
    _applied_base(cli)
    state = ["--state", "new.json"] if how == "new-state-file" else []
    if how == "state-rm":
        cli.ok("state", "rm", "Offer.Gold Card")
    planned = cli.run("plan", BUNDLE, "--out", "p.out", "--format", "json", "--detailed-exitcode", *state)
    assert planned.code == 0, planned
    assert summary_of(planned) == S(unchanged=2)

    cli.ok("apply", "p.out", *state)
    state_file = "new.json" if state else None
    for _ in range(2):
        before = snapshot(cli, sql, state_file)
        cli.ok("apply", "p.out", *state)
        assert_nothing_written(before, snapshot(cli, sql, state_file))
    drift = cli.run("refresh", "--format", "json", "--detailed-exitcode", *state)
    assert drift.code == 0, drift
