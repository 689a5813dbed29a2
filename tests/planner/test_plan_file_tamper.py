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
