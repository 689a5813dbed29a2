"""What `apply` prints: the plan with each create on one line (its fields were in the
reviewed plan), updates with their changed fields, then one closing line."""

from __future__ import annotations

import shutil

from support import NORTHWIND, CliEnv


def test_apply_lists_creates_by_address_and_updates_by_field(cli: CliEnv) -> None:
    shutil.copy(NORTHWIND, cli.cwd / "bundle.yaml")
    out = cli.ok("apply", "bundle.yaml", "--auto-approve").out
    lines = out.splitlines()
    creates = [line for line in lines if line.startswith("+ ")]
    assert len(creates) == 51  # northwind.yaml holds 51 resources
    assert '+ Offer "Platinum Travel Card"' in creates
    assert not any(line.startswith("    ") for line in lines)  # no field rows under a create
    assert lines[-1] == "Apply complete: 51 created, 0 updated, 0 deleted (state serial 1)."

    text = NORTHWIND.read_text(encoding="utf-8").replace("shortDesc: 3x miles on travel, lounge access",
                                                          "shortDesc: 4x miles on travel")
    (cli.cwd / "bundle.yaml").write_text(text, encoding="utf-8")
    lines = cli.ok("apply", "bundle.yaml", "--auto-approve").out.splitlines()
    at = lines.index('~ Offer "Platinum Travel Card"')
    assert lines[at + 1] == '    ~ spec.shortDesc: "3x miles on travel, lounge access" → "4x miles on travel"'
    assert lines[-1] == "Apply complete: 0 created, 1 updated, 0 deleted (state serial 2)."


def test_apply_of_something_that_is_not_a_plan_says_so(cli: CliEnv) -> None:
    (cli.cwd / "garbage.out").write_bytes(b"\x00\x9f binary junk, neither a plan nor a bundle")
    result = cli.run("apply", "garbage.out")
    assert result.code == 1
    assert result.err.startswith("Error: garbage.out is not a saved plan (`decisionform plan BUNDLE --out FILE` "
                                 "writes one)"), result.err
