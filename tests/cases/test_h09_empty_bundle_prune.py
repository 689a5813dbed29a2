"""H09 empty-bundle-prune: an accidentally empty input never prunes; a deliberate one does, with --allow-empty.

The case's steps 1-8 and its protection part (CLI), then the same fault elsewhere: other
accidentally empty inputs (blank and null documents, streams of empty documents, empty
JSON, a top-level list, a capitalised key), directories that come out empty in other
ways, a deliberate empty JSON bundle and files-layout manifest, `apply --auto-approve`,
`--kinds`, the JSON state file, unmanaged rows, and protection lifted by its own apply.
"""

from __future__ import annotations

import shutil

import pytest
from nothing_written import assert_nothing_written, fails, fails_writing_nothing, snapshot

from support import CliEnv, case_file

CASE = "H09-empty-bundle-prune"
BASE = {("Category", "Credit Cards"), ("Offer", "Gold Card"), ("Offer", "Silver Card"), ("Channel", "Email"),
        ("ContactPolicy", "Email Weekly Cap")}
ZERO = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0}


@pytest.fixture
def h09(cli: CliEnv) -> CliEnv:
    shutil.copytree(case_file(CASE, "."), cli.cwd, dirs_exist_ok=True)
    cli.ok("apply", "base.yaml", "--auto-approve")
    assert set(cli.exported()) == BASE
    return cli


def assert_not_generic(err: str) -> None:
    assert "syntax error" not in err.lower() and "unexpected" not in err.lower(), err


def test_h09_case_steps(h09: CliEnv) -> None:
    cli = h09
    before = snapshot(cli)
    # 1. empty or broken by accident: specific errors naming the file, nothing written
    for name in ("empty.yaml", "comments-only.yaml"):
        err = fails(cli, "plan", name, "--prune").err
        assert name in err and ("empty" in err or "resources" in err), err
        assert_not_generic(err)
    for name in ("empty-map.yaml", "manifest-only.yaml"):
        err = fails(cli, "plan", name, "--prune").err
        assert name in err and "`resources` is missing" in err, err
    err = fails(cli, "plan", "null-resources.yaml", "--prune").err
    assert "null-resources.yaml" in err and "`resources` must be a list" in err, err
    err = fails(cli, "plan", "typo-key.yaml", "--prune").err
    assert "typo-key.yaml:5:" in err and "unknown top-level key `resource`" in err, err
    assert "did you mean `resources`" in err, err
    # 2. a directory with nothing in it, and one that is not there
    (cli.cwd / "empty-dir").mkdir()
    err = fails(cli, "plan", "empty-dir", "--prune").err
    assert "empty-dir" in err and "resource" in err, err
    err = fails(cli, "plan", "no-such-dir/", "--prune").err
    assert "no-such-dir" in err, err
    # 3. deliberately empty, but --prune without --allow-empty
    err = fails(cli, "plan", "explicit-empty.yaml", "--prune", "--out", "p.out").err
    assert "--allow-empty" in err, err
    assert not (cli.cwd / "p.out").exists()
    assert_nothing_written(cli, before)
    # 4. deliberately empty without prune: nothing to do
    quiet = cli.run("plan", "explicit-empty.yaml", "--format", "json", "--detailed-exitcode")
    assert quiet.code == 0 and quiet.json()["summary"] == ZERO, quiet
    # 5. with --allow-empty: the five deletes, in reverse dependency order
    planned = cli.ok("plan", "explicit-empty.yaml", "--prune", "--allow-empty", "--out", "p.out",
                     "--format", "json").json()
    assert planned["summary"] == {"created": 0, "updated": 0, "deleted": 5, "unchanged": 0}
    deletes = [(d["kind"], d["name"]) for d in planned["diffs"] if d["op"] != "unchanged"]
    assert set(deletes) == BASE and all(d["op"] == "delete" for d in planned["diffs"] if d["op"] != "unchanged")
    position = {key: i for i, key in enumerate(deletes)}
    assert position[("ContactPolicy", "Email Weekly Cap")] < position[("Channel", "Email")]
    for offer in ("Gold Card", "Silver Card"):
        assert position[("Offer", offer)] < position[("Category", "Credit Cards")]
    shown = cli.ok("show", "p.out", "--format", "json").json()
    assert shown["summary"] == planned["summary"] and shown["diffs"] == planned["diffs"]
    assert_nothing_written(cli, before)  # planning wrote nothing
    # 6. apply: nothing left, no drift
    cli.ok("apply", "p.out")
    assert cli.export()["resources"] == []
    refreshed = cli.run("refresh", "--format", "json", "--detailed-exitcode")
    assert refreshed.code == 0, refreshed
    # 7. planning the deliberate empty again is not an error
    again = cli.run("plan", "explicit-empty.yaml", "--prune", "--allow-empty", "--format", "json",
                    "--detailed-exitcode")
    assert again.code == 0 and again.json()["summary"] == ZERO, again
    # 8. the soft-deleted rows come back by name
    assert cli.summary("plan", "base.yaml") == {"created": 5, "updated": 0, "deleted": 0, "unchanged": 0}
    cli.ok("apply", "base.yaml", "--auto-approve")
    assert set(cli.exported()) == BASE
    assert cli.run("plan", "base.yaml", "--detailed-exitcode").code == 0


def test_h09_protection_holds_for_an_empty_bundle(cli: CliEnv) -> None:
    shutil.copytree(case_file(CASE, "."), cli.cwd, dirs_exist_ok=True)
    cli.ok("apply", "base-protected.yaml", "--auto-approve")
    err = fails_writing_nothing(cli, "plan", "explicit-empty.yaml", "--prune", "--allow-empty", "--out", "p.out").err
    assert 'Offer "Gold Card"' in err and "prevent-destroy" in err, err
    assert not (cli.cwd / "p.out").exists()
    fails_writing_nothing(cli, "apply", "explicit-empty.yaml", "--prune", "--allow-empty", "--auto-approve")
    # protection is lifted by an apply of its own (base.yaml: the same resources, unprotected) ...
    assert cli.summary("plan", "base.yaml") == {"created": 0, "updated": 1, "deleted": 0, "unchanged": 4}
    cli.ok("apply", "base.yaml", "--auto-approve")
    # ... and only then can everything go
    assert cli.summary("plan", "explicit-empty.yaml", "--prune", "--allow-empty")["deleted"] == 5


# ---------------------------------------------------------------- the same fault, other inputs

ACCIDENTS = {
    # file: (text, words the message must hold)
    "dashes.yaml": ("---\n", ("empty",)),
    "tilde.yaml": ("~\n", ("empty",)),
    "blank.yaml": ("   \n\n", ("empty",)),
    "empty-docs.yaml": ("---\n# nothing\n---\n", ("empty",)),
    "list.yaml": ("[]\n", ("resources", "not a list")),
    "resources-map.yaml": ("resources: {}\n", ("`resources` must be a list",)),
    "empty.json": ("", ("empty",)),
    "blank.json": ("  \n", ("empty",)),
    "null.json": ("null", ("empty",)),
    "object.json": ("{}", ("`resources` is missing",)),
    "list.json": ("[]", ("resources",)),
    "manifest.json": ('{"manifest": {"apiVersion": "decisionform/v1", "tenant": "acme"}}', ("`resources` is missing",)),
    "null-resources.json": ('{"resources": null}', ("`resources` must be a list",)),
    "capital.json": ('{"Resources": []}', ("unknown top-level key `Resources`", "did you mean `resources`")),
}


def test_other_accidentally_empty_inputs_never_prune(h09: CliEnv) -> None:
    cli = h09
    before = snapshot(cli)
    for name, (text, words) in ACCIDENTS.items():
        (cli.cwd / name).write_text(text)
        for command in (("plan", name, "--prune"), ("plan", name, "--prune", "--allow-empty"),
                        ("apply", name, "--prune", "--allow-empty", "--auto-approve")):
            err = fails(cli, *command).err
            assert name in err, (name, err)
            assert_not_generic(err)
            for word in words:
                assert word in err, (name, word, err)
    assert_nothing_written(cli, before)
    assert set(cli.exported()) == BASE


def test_directories_that_come_out_empty_never_prune(h09: CliEnv) -> None:
    cli = h09
    trees = {
        "only-manifest": {"manifest.yaml": "manifest: {apiVersion: decisionform/v1, tenant: acme}\n"},
        "truncated": {"categories/credit-cards.yaml": "kind: Category\nmetadata: {name: Credit Cards}\n",
                      "offers/gold-card.yaml": ""},
        "not-bundle-files": {"README.md": "# bundle\n", "notes.txt": "resources: []\n"},
        "hidden-only": {".draft.yaml": "resources: []\n", ".git/config.yaml": "resources: []\n"},
        "comments-only": {"offers/gold-card.yaml": "# moved away\n"},
    }
    before = snapshot(cli)
    for tree, files in trees.items():
        for relative, text in files.items():
            path = cli.cwd / tree / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for extra in ((), ("--allow-empty",)):
            err = fails(cli, "plan", tree, "--prune", *extra).err
            assert tree in err and ("resource" in err or "empty" in err), (tree, err)
            assert_not_generic(err)
    assert_nothing_written(cli, before)


def test_deliberately_empty_in_other_forms(h09: CliEnv) -> None:
    cli = h09
    (cli.cwd / "empty.json").write_text('{"manifest": {"apiVersion": "decisionform/v1"}, "resources": []}\n')
    (cli.cwd / "tree").mkdir()
    (cli.cwd / "tree" / "manifest.yaml").write_text("manifest: {apiVersion: decisionform/v1}\nresources: []\n")
    before = snapshot(cli)
    for target in ("empty.json", "tree", "explicit-empty.yaml"):
        assert cli.ok("validate", target).out.strip() == f"{target}: valid (0 resources)."
        assert cli.summary("plan", target) == ZERO
        assert "--allow-empty" in fails(cli, "plan", target, "--prune").err
        assert "--allow-empty" in fails(cli, "apply", target, "--prune", "--auto-approve").err
        planned = cli.summary("plan", target, "--prune", "--allow-empty")
        assert planned == {"created": 0, "updated": 0, "deleted": 5, "unchanged": 0}
    # without prune, applying an empty bundle writes nothing and succeeds
    cli.ok("apply", "empty.json", "--auto-approve")
    assert_nothing_written(cli, before)
    # --kinds narrows what an empty bundle may delete
    assert "--allow-empty" in fails(cli, "plan", "explicit-empty.yaml", "--prune", "--kinds", "Offer").err
    narrowed = cli.ok("plan", "explicit-empty.yaml", "--prune", "--allow-empty", "--kinds", "Offer",
                      "--format", "json").json()
    assert sorted((d["kind"], d["name"]) for d in narrowed["diffs"] if d["op"] != "unchanged") == [
        ("Offer", "Gold Card"), ("Offer", "Silver Card")]
    assert_nothing_written(cli, before)
    cli.ok("apply", "tree", "--prune", "--allow-empty", "--auto-approve")
    assert cli.export()["resources"] == []
    # the export of an empty tenant is a deliberate empty too, in both layouts, and reads back as one
    cli.ok("export", "--layout", "files", "--out", "exported")
    cli.ok("export", "--out", "exported.yaml")
    for target in ("exported", "exported.yaml"):
        assert cli.ok("validate", target).out.strip() == f"{target}: valid (0 resources)."
        assert cli.run("plan", target, "--detailed-exitcode").code == 0
        assert "--allow-empty" in fails(cli, "plan", target, "--prune").err
        assert cli.run("plan", target, "--prune", "--allow-empty", "--detailed-exitcode").code == 0


def test_empty_prune_with_a_state_file_and_unmanaged_rows(h09: CliEnv) -> None:
    cli = h09
    # a row the engine never created (state ui.json) is never pruned, and a row that still
    # references a managed one blocks its deletion, named
    (cli.cwd / "ui.yaml").write_text(
        "resources:\n"
        "  - {kind: Offer, metadata: {name: UI Offer}, spec: {category: Credit Cards}}\n"
        "  - {kind: Channel, metadata: {name: UI Push}, spec: {channelType: push}}\n")
    cli.ok("apply", "ui.yaml", "--auto-approve", "--state", "ui.json")
    before = snapshot(cli)
    err = fails(cli, "plan", "explicit-empty.yaml", "--prune", "--allow-empty").err
    assert 'Category "Credit Cards"' in err and 'Offer "UI Offer"' in err and "database" in err, err
    assert_nothing_written(cli, before)
    (cli.cwd / "keep-category.yaml").write_text(
        "resources:\n  - {kind: Category, metadata: {name: Credit Cards},"
        " spec: {description: Revolving credit products, status: active}}\n")
    cli.ok("apply", "keep-category.yaml", "--prune", "--auto-approve")
    assert set(cli.exported()) == {("Category", "Credit Cards"), ("Offer", "UI Offer"), ("Channel", "UI Push")}
    # the JSON state file: refused writes leave its bytes (and a missing file stays missing)
    state = cli.cwd / "st.json"
    cli.ok("apply", "base.yaml", "--auto-approve", "--state", str(state))
    file_before = snapshot(cli, state)
    fails(cli, "plan", "explicit-empty.yaml", "--prune", "--state", str(state))
    fails(cli, "apply", "comments-only.yaml", "--prune", "--allow-empty", "--auto-approve", "--state", str(state))
    assert_nothing_written(cli, file_before, state)
    missing = cli.cwd / "never.json"
    fails(cli, "apply", "empty-map.yaml", "--prune", "--auto-approve", "--state", str(missing))
    assert not missing.exists()
