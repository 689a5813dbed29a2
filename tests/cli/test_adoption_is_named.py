"""Adopting rows changes no row but makes them managed (a later --prune may delete them), so
the reviewed plan names each one: text, pull-request markdown and JSON ("state", format 1.1)."""

from __future__ import annotations

import shutil

from support import NORTHWIND, CliEnv


def test_a_plan_names_what_apply_will_adopt(cli: CliEnv) -> None:
    shutil.copy(NORTHWIND, cli.cwd / "bundle.yaml")
    # rows written under another state (a file): the database state manages none of them yet
    cli.ok("apply", "bundle.yaml", "--auto-approve", "--state", "other.json")

    doc = cli.ok("plan", "bundle.yaml", "--format", "json").json()
    assert doc["formatVersion"] == "1.1"
    assert doc["summary"] == {"created": 0, "updated": 0, "deleted": 0, "unchanged": 51}
    assert len(doc["state"]["adopt"]) == 51 and doc["state"]["forget"] == []
    assert "Offer.Platinum Travel Card" in doc["state"]["adopt"]

    text = cli.ok("plan", "bundle.yaml").out
    assert "State: apply will record 51 resources that already match the database" in text
    assert '  = Category "Credit Cards"' in text and "  … and 31 more" in text  # 20 named, then a count

    markdown = cli.ok("plan", "bundle.yaml", "--format", "markdown").out
    assert "**State only** (no row changes):" in markdown
    assert '- `Category "Credit Cards"`' in markdown

    assert cli.run("plan", "bundle.yaml", "--detailed-exitcode").code == 0  # no row changes
    cli.ok("apply", "bundle.yaml", "--auto-approve")
    assert cli.ok("plan", "bundle.yaml", "--format", "json").json()["state"] == {"adopt": [], "forget": []}
