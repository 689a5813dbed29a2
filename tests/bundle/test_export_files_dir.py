"""Exporting the files layout: into a fresh, an earlier-export or a foreign target."""

from __future__ import annotations

from pathlib import Path

from support import NORTHWIND, CliEnv


def test_re_export_removes_files_of_resources_that_are_gone(cli: CliEnv, tmp_path: Path) -> None:
    cli.ok("apply", NORTHWIND, "--auto-approve")
    cli.ok("export", "--layout", "files", "--out", "tree")
    ghost = tmp_path / "tree" / "categories" / "ghost.yaml"
    ghost.write_text("apiVersion: decisionform/v1\nkind: Category\nmetadata: {name: Ghost}\nspec: {}\n")
    cli.ok("export", "--layout", "files", "--out", "tree")
    assert not ghost.exists()
    assert cli.run("plan", "tree", "--detailed-exitcode").code == 0


def test_export_refuses_a_file_or_a_foreign_directory(cli: CliEnv, tmp_path: Path) -> None:
    (tmp_path / "afile.yaml").write_text("x: 1\n")
    as_file = cli.run("export", "--layout", "files", "--out", "afile.yaml")
    assert as_file.code == 1 and "is a file" in as_file.err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    foreign = cli.run("export", "--layout", "files", "--out", "mine")
    assert foreign.code == 1 and "not empty" in foreign.err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
