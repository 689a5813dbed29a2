"""``state list | show ADDR | rm ADDR | pull | push FILE``, on the database and the file backend.

push checks lineage and serial (``--force`` overrides) and never forgets
which plans were applied; rm forgets a resource without touching its row
(it becomes unmanaged); every refused command writes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from oob_helpers import assert_writes_nothing, serial, snapshot, state_doc, statuses
from support import CliEnv, case_file

BASE = case_file("H10-prune-unmanaged-and-kinds", "base.yaml")
ADDRESSES = ["Category.Credit Cards", "Channel.Email", "Offer.Gold Card", "Offer.Silver Card"]


@pytest.fixture(params=["db", "file"])
def st(cli: CliEnv, request: pytest.FixtureRequest) -> CliEnv:
    """base.yaml applied; state in the database or in ``main.json`` (``DECISIONFORM_STATE``)."""
    shutil.copy(BASE, cli.cwd / "base.yaml")
    if request.param == "file":
        cli = CliEnv(cli.url, cli.tenant, cli.cwd)
        cli.env = lambda **extra: {**CliEnv.env(cli, DECISIONFORM_STATE="main.json"), **extra}  # type: ignore[method-assign]
    cli.ok("apply", "base.yaml", "--auto-approve")
    return cli


def _state_file(cli: CliEnv) -> Path | None:
    path = cli.cwd / "main.json"
    return path if path.exists() else None


def test_list_and_show(st: CliEnv) -> None:
    assert st.ok("state", "list").out.splitlines() == ADDRESSES
    shown = st.ok("state", "show", "Offer.Gold Card").json()
    assert shown["address"] == "Offer.Gold Card"
    assert shown["id"].startswith("off_") and shown["digest"].startswith("sha256:")
    assert shown["metadata"]["labels"] == {"team": "cards"}
    assert shown["spec"]["priority"] == 50 and shown["spec"]["category"] == "Credit Cards"
    assert shown["id"] == state_doc(st)["resources"]["Offer.Gold Card"]["id"]

    result = st.run("state", "show", "Offer.Nope")
    assert result.code == 1 and "Offer.Nope" in result.err and "state list" in result.err, result


def test_pull(st: CliEnv) -> None:
    doc = state_doc(st)
    assert doc["format_version"] == 1 and doc["serial"] == 1 and doc["lineage"]
    assert sorted(doc["resources"]) == ADDRESSES
    assert all(set(e) >= {"id", "digest", "spec"} for e in doc["resources"].values())
    if (path := _state_file(st)) is not None:
        assert json.loads(path.read_text()) == doc


def test_rm_forgets_without_touching_the_row(st: CliEnv) -> None:
    exported = st.export()
    result = st.ok("state", "rm", "Offer.Gold Card", "Channel.Email")
    assert "Offer.Gold Card" in result.out and "Channel.Email" in result.out
    assert st.ok("state", "list").out.splitlines() == ["Category.Credit Cards", "Offer.Silver Card"]
    assert serial(st) == 2
    assert st.export() == exported
    doc = st.run("refresh", "--format", "json", "--detailed-exitcode")
    assert doc.code == 2
    assert statuses(doc.json()) == {("Offer", "Gold Card"): "unmanaged", ("Channel", "Email"): "unmanaged"}
    # prune never deletes what state forgot ...
    shutil.copy(case_file("H10-prune-unmanaged-and-kinds", "no-gold.yaml"), st.cwd / "no-gold.yaml")
    plan = st.run("plan", "no-gold.yaml", "--prune", "--format", "json", "--detailed-exitcode")
    assert plan.code == 0, plan
    # ... and declaring it again adopts it by name, without a change to the row
    st.ok("apply", "base.yaml", "--auto-approve")
    assert st.ok("state", "list").out.splitlines() == ADDRESSES
    assert st.export() == exported


def test_rm_of_an_unknown_address_writes_nothing(st: CliEnv) -> None:
    result = assert_writes_nothing(st, lambda: st.run("state", "rm", "Offer.Gold Card", "Offer.Nope"),
                                   _state_file(st))
    assert result.code == 1 and "Offer.Nope" in result.err, result
    assert "Offer.Gold Card" in st.ok("state", "list").out


def test_push_round_trip_and_edit(st: CliEnv) -> None:
    doc = state_doc(st)
    del doc["resources"]["Offer.Silver Card"]
    (st.cwd / "edited.json").write_text(json.dumps(doc))
    result = st.ok("state", "push", "edited.json")
    assert "serial 2" in result.out
    pulled = state_doc(st)
    assert pulled["serial"] == 2 and pulled["lineage"] == doc["lineage"]
    assert "Offer.Silver Card" not in pulled["resources"]
    assert statuses(st.run("refresh", "--format", "json").json()) == {("Offer", "Silver Card"): "unmanaged"}


def test_push_refuses_an_older_serial_unless_forced(st: CliEnv) -> None:
    (st.cwd / "old.json").write_text(st.ok("state", "pull").out)
    shutil.copy(case_file("H10-prune-unmanaged-and-kinds", "no-gold.yaml"), st.cwd / "no-gold.yaml")
    st.ok("apply", "no-gold.yaml", "--auto-approve", "--prune")  # serial 2, Gold Card deleted
    result = assert_writes_nothing(st, lambda: st.run("state", "push", "old.json"), _state_file(st))
    assert result.code == 1 and "serial 1" in result.err and "--force" in result.err, result

    st.ok("state", "push", "old.json", "--force")
    pulled = state_doc(st)
    assert pulled["serial"] == 3  # never goes back: a plan made at serial 2 is stale now
    assert "Offer.Gold Card" in pulled["resources"]
    refreshed = st.run("refresh", "--format", "json").json()
    assert statuses(refreshed) == {("Offer", "Gold Card"): "deleted"}


def test_push_refuses_another_lineage_unless_forced(st: CliEnv, new_db_url) -> None:
    other = CliEnv(new_db_url(), "acme", st.cwd / "other")
    other.cwd.mkdir()
    other.ok("db", "upgrade")
    other.ok("tenant", "create", "acme")
    shutil.copy(BASE, other.cwd / "base.yaml")
    other.ok("apply", "base.yaml", "--auto-approve")
    foreign = other.ok("state", "pull").json()
    (st.cwd / "foreign.json").write_text(json.dumps(foreign))
    current = state_doc(st)
    assert foreign["lineage"] != current["lineage"]

    result = assert_writes_nothing(st, lambda: st.run("state", "push", "foreign.json"), _state_file(st))
    assert result.code == 1 and "lineage" in result.err and foreign["lineage"] in result.err, result
    st.ok("state", "push", "foreign.json", "--force")
    assert state_doc(st)["lineage"] == foreign["lineage"]


@pytest.mark.parametrize("content", ["not json", json.dumps({"format_version": 99, "serial": 1}),
                                     json.dumps([1, 2]), json.dumps({"format_version": 1, "resources": {"x": 1}})])
def test_push_refuses_a_file_that_is_not_a_state(st: CliEnv, content: str) -> None:
    (st.cwd / "bad.json").write_text(content)
    result = assert_writes_nothing(st, lambda: st.run("state", "push", "bad.json"), _state_file(st))
    assert result.code == 1 and "bad.json" in result.err, result
    result = st.run("state", "push", "missing.json")
    assert result.code == 1 and "missing.json" in result.err, result


def test_push_keeps_the_applied_plan_ids(st: CliEnv) -> None:
    """A pushed state does not let an applied plan apply a second time."""
    text = (st.cwd / "base.yaml").read_text().replace("priority: 50", "priority: 60")
    (st.cwd / "v2.yaml").write_text(text)
    st.ok("plan", "v2.yaml", "--out", "p.out")
    (st.cwd / "before.json").write_text(st.ok("state", "pull").out)
    st.ok("apply", "p.out")
    st.ok("state", "push", "before.json", "--force")
    st.ok("apply", "base.yaml", "--auto-approve")  # the rows back to priority 50
    result = st.run("apply", "p.out")
    assert result.code == 1, result
    assert "already applied" in result.err or "plan is stale" in result.err.lower()


def test_push_into_an_empty_state(cli: CliEnv) -> None:
    shutil.copy(BASE, cli.cwd / "base.yaml")
    cli.ok("apply", "base.yaml", "--auto-approve", "--state", "elsewhere.json")
    doc = json.loads((cli.cwd / "elsewhere.json").read_text())
    assert cli.ok("state", "pull").json()["serial"] == 0
    cli.ok("state", "push", "elsewhere.json")
    pulled = cli.ok("state", "pull").json()
    assert pulled["lineage"] == doc["lineage"] and sorted(pulled["resources"]) == ADDRESSES
    assert cli.run("refresh", "--detailed-exitcode").code == 0
    assert snapshot(cli).locks.strip() == "No locks held."
