"""H10 prune-unmanaged-and-kinds: prune deletes only what state manages, inside the narrowing.

Every CLI step of the case README (parts A-D; E is HTTP, tested with the API),
on SQLite and PostgreSQL, plus the rest of the fault's kind: unmanaged rows
made another way (``state rm``), prune under ``--target`` of a kind with
dependants, referrers outside the narrowing or only in the database (also
inside nested JSON), reverse dependency order, protection recorded in state,
the empty bundle.
"""

from __future__ import annotations

import shutil

import pytest

from oob_helpers import (
    assert_writes_nothing,
    change,
    changes,
    serial,
    sql_row,
    sql_update,
    statuses,
    write_bundle,
)
from support import CliEnv, case_file

CASE = "H10-prune-unmanaged-and-kinds"
FILES = ("base.yaml", "ui.yaml", "no-gold.yaml", "mixed.yaml", "channels-only.yaml", "one-invalid.yaml",
         "adopt.yaml")
UNMANAGED = {("Offer", "UI Promo"): "unmanaged", ("Channel", "Push UI"): "unmanaged"}


@pytest.fixture(params=["state-file", "state-rm"])
def h10(cli: CliEnv, request: pytest.FixtureRequest) -> CliEnv:
    """The case setup: base.yaml managed; UI Promo and Push UI in the database, unmanaged.

    ``state-file``: ui.yaml applied with ``--state ui.json`` (the README's way);
    ``state-rm``: applied with the main state, then forgotten with ``state rm``.
    """
    for name in FILES:
        shutil.copy(case_file(CASE, name), cli.cwd / name)
    cli.ok("apply", "base.yaml", "--auto-approve")
    if request.param == "state-file":
        assert cli.summary("apply", "ui.yaml", "--auto-approve", "--state", "ui.json")["created"] == 2
    else:
        assert cli.summary("apply", "ui.yaml", "--auto-approve")["created"] == 2
        cli.ok("state", "rm", "Offer.UI Promo", "Channel.Push UI")
    assert len(cli.ok("state", "list").out.split("\n")) - 1 == 4
    assert len(cli.export()["resources"]) == 6
    return cli


def _refresh(cli: CliEnv, expect: int = 2) -> dict:
    result = cli.run("refresh", "--format", "json", "--detailed-exitcode")
    assert result.code == expect, result
    return result.json()


# ------------------------------------------------------------------ A
def test_a_refresh_reports_unmanaged_and_never_adopts(h10: CliEnv) -> None:
    doc = assert_writes_nothing(h10, lambda: _refresh(h10))
    assert doc["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 2}
    assert statuses(doc) == UNMANAGED

    before = serial(h10)
    h10.ok("refresh", "--update-state")
    doc = _refresh(h10)
    assert doc["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 2}
    assert statuses(doc) == UNMANAGED
    assert serial(h10) == before  # nothing to accept: unmanaged rows are not state's business
    assert "Offer.UI Promo" not in h10.ok("state", "list").out


# ------------------------------------------------------------------ B
def _plan(cli: CliEnv, *args: str, code: int = 0) -> dict:
    result = cli.run("plan", *args, "--format", "json")
    assert result.code == code, result
    return result.json()


def test_b_prune_plans(h10: CliEnv) -> None:
    cli = h10

    def step(*args: str, code: int = 0) -> dict:
        return assert_writes_nothing(cli, lambda: _plan(cli, *args, code=code))

    # 1. the full bundle: nothing to prune; the label on UI Promo does not make it ours
    doc = step("base.yaml", "--prune", "--detailed-exitcode")
    assert doc["summary"] == {"created": 0, "updated": 0, "deleted": 0, "unchanged": 4}
    assert changes(doc) == []
    # 2.
    doc = step("no-gold.yaml", "--prune")
    assert doc["summary"] == {"created": 0, "updated": 0, "deleted": 1, "unchanged": 3}
    assert changes(doc) == [("delete", "Offer", "Gold Card")]
    # 3. only channels: the category and offers are outside the narrowing
    doc = step("mixed.yaml", "--prune", "--kinds", "Channel")
    assert changes(doc) == [("create", "Channel", "SMS"), ("delete", "Channel", "Email")]
    # 4.
    doc = step("mixed.yaml", "--prune", "--kinds", "Offer")
    assert changes(doc) == [("delete", "Offer", "Gold Card")]
    # 5. creates first, then deletes
    doc = step("mixed.yaml", "--prune", "--kinds", "Offer,Channel")
    assert changes(doc) == [("create", "Channel", "SMS"), ("delete", "Offer", "Gold Card"),
                            ("delete", "Channel", "Email")]
    # 6.
    doc = step("mixed.yaml", "--prune", "--target", "Offer.Gold Card")
    assert changes(doc) == [("delete", "Offer", "Gold Card")]
    doc = step("mixed.yaml", "--prune", "--target", "Offer.Silver Card", "--detailed-exitcode")
    assert changes(doc) == []

    # 7. a misspelt kind
    result = assert_writes_nothing(cli, lambda: cli.run("plan", "mixed.yaml", "--prune", "--kinds", "Offer,Chanel"))
    assert result.code == 1, result
    assert "Chanel" in result.err and "Channel" in result.err and "did you mean" in result.err.lower()
    # 8. an unmanaged offer still references the managed category
    result = assert_writes_nothing(cli, lambda: cli.run("plan", "channels-only.yaml", "--prune"))
    assert result.code == 1, result
    assert 'Category "Credit Cards"' in result.err and 'Offer "UI Promo"' in result.err, result
    # 9. an invalid bundle plans nothing, so deletes nothing
    result = assert_writes_nothing(cli, lambda: cli.run("plan", "one-invalid.yaml", "--prune"))
    assert result.code == 1, result
    assert 'Channel "Email".spec.channelType' in result.err and "one-invalid.yaml:13" in result.err, result
    assert "pigeon" in result.err


def test_b_invalid_bundle_applies_nothing(h10: CliEnv) -> None:
    for args in (("one-invalid.yaml", "--prune"), ("mixed.yaml", "--prune", "--kinds", "Offer,Chanel"),
                 ("channels-only.yaml", "--prune")):
        result = assert_writes_nothing(h10, lambda args=args: h10.run("apply", *args, "--auto-approve"))
        assert result.code == 1, result


# ------------------------------------------------------------------ C
def test_c_prune_applied(h10: CliEnv) -> None:
    before = serial(h10)
    h10.ok("apply", "no-gold.yaml", "--auto-approve", "--prune")
    assert set(h10.exported()) == {("Category", "Credit Cards"), ("Offer", "Silver Card"), ("Offer", "UI Promo"),
                                   ("Channel", "Email"), ("Channel", "Push UI")}
    assert serial(h10) == before + 1
    doc = _refresh(h10)
    assert doc["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 2}
    assert "Offer.Gold Card" not in h10.ok("state", "list").out


# ------------------------------------------------------------------ D
def test_d_declaring_an_unmanaged_row_adopts_it_by_name(h10: CliEnv) -> None:
    doc = _plan(h10, "adopt.yaml")
    assert doc["summary"] == {"created": 0, "updated": 1, "deleted": 0, "unchanged": 4}
    assert changes(doc) == [("update", "Offer", "UI Promo")]
    promo = change(doc, "Offer", "UI Promo")
    assert promo["changedFields"] == ["spec.priority"]
    assert promo["before"]["spec"]["priority"] == 5 and promo["after"]["spec"]["priority"] == 7

    h10.ok("apply", "adopt.yaml", "--auto-approve")
    offers = [r for r in h10.export()["resources"] if r["kind"] == "Offer" and r["metadata"]["name"] == "UI Promo"]
    assert len(offers) == 1 and offers[0]["spec"]["priority"] == 7

    doc = _refresh(h10)
    assert doc["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 1}
    assert statuses(doc) == {("Channel", "Push UI"): "unmanaged"}

    doc = _plan(h10, "no-gold.yaml", "--prune")
    assert sorted(changes(doc)) == [("delete", "Offer", "Gold Card"), ("delete", "Offer", "UI Promo")]


def test_d_adopting_an_unchanged_row_records_it_in_state(h10: CliEnv) -> None:
    """Declaring an unmanaged row exactly as it is live: no change, but the engine now manages it."""
    text = (h10.cwd / "adopt.yaml").read_text().replace("priority: 7", "priority: 5")
    (h10.cwd / "adopt-5.yaml").write_text(text)
    doc = _plan(h10, "adopt-5.yaml", "--detailed-exitcode")
    assert changes(doc) == []
    h10.ok("apply", "adopt-5.yaml", "--auto-approve")
    assert "Offer.UI Promo" in h10.ok("state", "list").out.splitlines()
    assert statuses(_refresh(h10)) == {("Channel", "Push UI"): "unmanaged"}


# ------------------------------------------------------------------ the kind of fault
def test_prune_under_target_of_a_kind_with_dependants_names_the_referrers(h10: CliEnv) -> None:
    for args in (("--target", "Category.Credit Cards"), ("--kinds", "Category")):
        result = assert_writes_nothing(h10, lambda args=args: h10.run("plan", "channels-only.yaml", "--prune", *args))
        assert result.code == 1, result
        err = result.err
        assert 'Category "Credit Cards"' in err, result
        # managed offers outside the narrowing stay, and so does the unmanaged one: all are referrers
        for referrer in ('Offer "Gold Card"', 'Offer "Silver Card"', 'Offer "UI Promo"'):
            assert referrer in err, result
        assert "spec.category" in err


def test_prune_refuses_a_target_a_bundle_resource_still_references(h10: CliEnv) -> None:
    """Silver Card stays in the bundle and references the category the bundle dropped."""
    write_bundle(h10.cwd / "no-category.json", [
        {"kind": "Offer", "name": "Silver Card", "labels": {"team": "cards"},
         "spec": {"category": "Credit Cards", "status": "active", "priority": 40}},
        {"kind": "Channel", "name": "Email", "spec": {"channelType": "email", "status": "active"}}])
    result = assert_writes_nothing(h10, lambda: h10.run("plan", "no-category.json", "--prune", "--kinds",
                                                        "Category,Offer"))
    assert result.code == 1, result
    assert 'Category "Credit Cards"' in result.err and 'Offer "Silver Card"' in result.err, result
    assert "referenced" in result.err


def test_prune_deletes_in_reverse_dependency_order(cli: CliEnv) -> None:
    shutil.copy(case_file("H11-out-of-band-delete-refresh", "bundle.yaml"), cli.cwd / "bundle.yaml")
    cli.ok("apply", "bundle.yaml", "--auto-approve")
    write_bundle(cli.cwd / "empty.json", [])
    doc = _plan(cli, "empty.json", "--prune", "--allow-empty")
    ops = changes(doc)
    assert {op for op, _, _ in ops} == {"delete"} and len(ops) == 5
    order = [f"{kind}.{name}" for _, kind, name in ops]
    # dependants before what they depend on
    assert order.index("Creative.Silver Card - Email") < order.index("Offer.Silver Card")
    assert order.index("Creative.Silver Card - Email") < order.index("Channel.Email")
    assert order.index("Offer.Silver Card") < order.index("Category.Credit Cards")
    assert order.index("Offer.Gold Card") < order.index("Category.Credit Cards")

    ids = {(kind, name): sql_row(cli.url, kind, name)["id"] for _, kind, name in ops}  # type: ignore[index]
    cli.ok("apply", "empty.json", "--auto-approve", "--prune", "--allow-empty")
    assert cli.export()["resources"] == []
    assert cli.ok("state", "list").out.strip() == ""
    # soft deletes: the same names come back on the same rows
    cli.ok("apply", "bundle.yaml", "--auto-approve")
    assert len(cli.export()["resources"]) == 5
    assert {key: sql_row(cli.url, *key)["id"] for key in ids} == ids  # type: ignore[index]


def test_prune_refuses_a_channel_a_creative_still_uses(cli: CliEnv) -> None:
    """The creative references the channel and one of its placements."""
    shutil.copy(case_file("H11-out-of-band-delete-refresh", "bundle.yaml"), cli.cwd / "bundle.yaml")
    cli.ok("apply", "bundle.yaml", "--auto-approve")
    result = assert_writes_nothing(cli, lambda: cli.run("plan", "bundle.yaml", "--prune", "--target",
                                                        "Channel.Email", "--kinds", "Channel"))
    assert result.code == 0, result  # in the bundle: nothing to prune
    cli.ok("state", "rm", "Creative.Silver Card - Email")  # the creative stays, only in the database
    text = (cli.cwd / "bundle.yaml").read_text()
    head, _, _ = text.partition("  - apiVersion: decisionform/v1\n    kind: Channel")
    (cli.cwd / "no-channel.yaml").write_text(head)
    result = assert_writes_nothing(cli, lambda: cli.run("plan", "no-channel.yaml", "--prune"))
    assert result.code == 1, result
    assert 'Channel "Email"' in result.err and 'Creative "Silver Card - Email"' in result.err, result


def test_prune_refuses_an_offer_a_flow_references_inside_nested_json(cli: CliEnv) -> None:
    category = {"kind": "Category", "name": "Credit Cards", "spec": {"status": "active"}}
    gold = {"kind": "Offer", "name": "Gold Card", "spec": {"category": "Credit Cards", "priority": 50}}
    silver = {"kind": "Offer", "name": "Silver Card", "spec": {"category": "Credit Cards", "priority": 40}}
    flow = {"kind": "DecisionFlow", "name": "Home", "spec": {
        "key": "home", "nodes": [
            {"id": "inv", "type": "inventory", "phase": 1, "config": {"offers": ["Silver Card", "Gold Card"]}},
            {"id": "out", "type": "response", "phase": 3, "config": {}}]}}
    write_bundle(cli.cwd / "all.json", [category, gold, silver, flow])
    cli.ok("apply", "all.json", "--auto-approve")

    write_bundle(cli.cwd / "no-gold.json", [category, silver, flow])
    result = assert_writes_nothing(cli, lambda: cli.run("plan", "no-gold.json", "--prune"))
    assert result.code == 1, result
    assert 'Offer "Gold Card"' in result.err and 'DecisionFlow "Home"' in result.err, result
    assert "nodes[0].config.offers" in result.err, result

    # the flow only in the database (unmanaged now), the bundle without both
    cli.ok("state", "rm", "DecisionFlow.Home")
    write_bundle(cli.cwd / "offers-only.json", [category, silver])
    result = assert_writes_nothing(cli, lambda: cli.run("plan", "offers-only.json", "--prune"))
    assert result.code == 1, result
    assert 'DecisionFlow "Home"' in result.err and "in the database" in result.err, result

    # once the flow stops referencing it, Gold Card can go
    flow["spec"]["nodes"][0]["config"]["offers"] = ["Silver Card"]
    write_bundle(cli.cwd / "fixed.json", [category, silver, flow])
    doc = _plan(cli, "fixed.json", "--prune")
    assert changes(doc) == [("update", "DecisionFlow", "Home"), ("delete", "Offer", "Gold Card")]
    cli.ok("apply", "fixed.json", "--auto-approve", "--prune")
    assert ("Offer", "Gold Card") not in cli.exported()


def test_empty_bundle_with_prune_is_refused(h10: CliEnv) -> None:
    write_bundle(h10.cwd / "empty.json", [])
    (h10.cwd / "empty.yaml").write_text("manifest: {apiVersion: decisionform/v1}\nresources: []\n")
    for name in ("empty.json", "empty.yaml"):
        for command in (("plan", name, "--prune"), ("apply", name, "--prune", "--auto-approve")):
            result = assert_writes_nothing(h10, lambda command=command: h10.run(*command))
            assert result.code == 1, result
            assert "--allow-empty" in result.err, result
    # without --prune an empty bundle changes nothing
    doc = _plan(h10, "empty.json", "--detailed-exitcode")
    assert changes(doc) == []
    # allowed, but the unmanaged UI Promo still uses the managed category
    result = assert_writes_nothing(h10, lambda: h10.run("plan", "empty.json", "--prune", "--allow-empty"))
    assert result.code == 1 and 'Offer "UI Promo"' in result.err, result
    # narrowed to offers it deletes only the managed ones
    doc = _plan(h10, "empty.json", "--prune", "--allow-empty", "--kinds", "Offer")
    assert sorted(changes(doc)) == [("delete", "Offer", "Gold Card"), ("delete", "Offer", "Silver Card")]


# ------------------------------------------------------------------ protection
def _protect(text: str, name: str) -> str:
    return text.replace(f"metadata: {{name: {name}, labels: {{team: cards}}}}",
                        f"metadata: {{name: {name}, labels: {{team: cards}}, "
                        "annotations: {decisionform/prevent-destroy: \"true\"}}")


def test_protection_is_kept_in_state_after_the_resource_leaves_the_bundle(h10: CliEnv) -> None:
    cli = h10
    (cli.cwd / "protected.yaml").write_text(_protect((cli.cwd / "base.yaml").read_text(), "Gold Card"))
    assert cli.summary("apply", "protected.yaml", "--auto-approve")["updated"] == 1
    entry = cli.ok("state", "show", "Offer.Gold Card").json()
    assert entry["metadata"]["annotations"] == {"decisionform/prevent-destroy": "true"}

    for args in (("plan", "no-gold.yaml", "--prune"), ("apply", "no-gold.yaml", "--prune", "--auto-approve"),
                 ("plan", "mixed.yaml", "--prune", "--kinds", "Offer"),
                 ("plan", "mixed.yaml", "--prune", "--target", "Offer.Gold Card")):
        result = assert_writes_nothing(cli, lambda args=args: cli.run(*args))
        assert result.code == 1, result
        assert 'Offer "Gold Card"' in result.err and "protect" in result.err.lower(), result
        assert "Silver Card" not in result.err
    write_bundle(cli.cwd / "empty.json", [])
    result = cli.run("plan", "empty.json", "--prune", "--allow-empty", "--kinds", "Offer")
    assert result.code == 1 and 'Offer "Gold Card"' in result.err, result

    # outside the narrowing the protected resource is not in question
    assert changes(_plan(cli, "mixed.yaml", "--prune", "--target", "Offer.Silver Card")) == []
    assert changes(_plan(cli, "mixed.yaml", "--prune", "--kinds", "Channel")) == [
        ("create", "Channel", "SMS"), ("delete", "Channel", "Email")]

    # removing the protection takes its own apply; then the prune goes through
    summary = cli.summary("apply", "base.yaml", "--auto-approve", "--prune")
    assert summary == {"created": 0, "updated": 1, "deleted": 0, "unchanged": 3}
    assert "annotations" not in cli.ok("state", "show", "Offer.Gold Card").json()["metadata"]
    doc = _plan(cli, "no-gold.yaml", "--prune")
    assert changes(doc) == [("delete", "Offer", "Gold Card")]
    cli.ok("apply", "no-gold.yaml", "--prune", "--auto-approve")
    assert ("Offer", "Gold Card") not in cli.exported()


def test_protection_added_out_of_band_is_honoured(h10: CliEnv) -> None:
    sql_update(h10.url, "Offer", "Gold Card", annotations={"decisionform/prevent-destroy": "true"})
    result = assert_writes_nothing(h10, lambda: h10.run("plan", "no-gold.yaml", "--prune"))
    assert result.code == 1 and 'Offer "Gold Card"' in result.err, result


def test_protected_resources_are_all_named(h10: CliEnv) -> None:
    text = _protect(_protect((h10.cwd / "base.yaml").read_text(), "Gold Card"), "Silver Card")
    (h10.cwd / "protected.yaml").write_text(text)
    h10.ok("apply", "protected.yaml", "--auto-approve")
    write_bundle(h10.cwd / "channel.json", [
        {"kind": "Category", "name": "Credit Cards",
         "spec": {"description": "Revolving credit products", "status": "active"}},
        {"kind": "Channel", "name": "Email", "spec": {"channelType": "email", "status": "active"}}])
    result = h10.run("plan", "channel.json", "--prune")
    assert result.code == 1, result
    assert 'Offer "Gold Card"' in result.err and 'Offer "Silver Card"' in result.err, result
