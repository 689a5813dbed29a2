"""A saved plan is authenticated: an edited file with a recomputed checksum is refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import orjson

from support import NORTHWIND, CliEnv


def test_edited_plan_with_recomputed_checksum_is_refused(cli: CliEnv, tmp_path: Path) -> None:
    cli.ok("plan", NORTHWIND, "--out", "p.out")
    doc = json.loads((tmp_path / "p.out").read_text())
    offer = next(c for c in doc["plan"]["changes"] if c["kind"] == "Offer")
    offer["after"]["spec"]["priority"] = 1
    body = orjson.dumps(doc["plan"], option=orjson.OPT_SORT_KEYS)
    doc["checksum"] = "sha256:" + hashlib.sha256(body).hexdigest()
    (tmp_path / "edited.out").write_text(json.dumps(doc))
    before = cli.ok("export", "--format", "json").out
    refused = cli.run("apply", "edited.out")
    assert refused.code == 1 and "signature" in refused.err, refused
    assert cli.ok("export", "--format", "json").out == before
    cli.ok("apply", "p.out")  # the untouched plan still applies


def test_a_stale_plan_names_twenty_moved_resources_then_counts_the_rest() -> None:
    from decisionform.errors import StalePlanError

    moved = [f'Offer "O{i}" changed since the plan (version 1 → 2)' for i in range(1000)]
    error = StalePlanError(moved)
    lines = str(error).splitlines()
    assert lines[1] == '  - Offer "O0" changed since the plan (version 1 → 2)'
    assert lines[20] == '  - Offer "O19" changed since the plan (version 1 → 2)'
    assert lines[21] == "  … and 980 more (1,000 in all)"
    assert lines[-1] == "Make a new plan and review it."
    assert len(error.details()) == 1000  # the API's details keep every one
