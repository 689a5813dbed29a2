"""Golden renderings of real engine output: the Northwind plan, a prune plan and a drift report.

The same golden files hold on SQLite and PostgreSQL (ids, plan ids, times and
the database location are normalised away). Regenerate with
``UPDATE_GOLDEN=1 pytest tests/cli/test_golden_northwind.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from sqlalchemy import text

from decisionform.providers.database import Database
from support import NORTHWIND, CliEnv

GOLDEN = Path(__file__).parent / "golden"
VOLATILE = [
    (re.compile(r"pln_[0-9a-f]{20}"), "pln_XXXX"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"), "2026-01-01T00:00:00Z"),
    (re.compile(r"(sqlite:///|postgresql://)[^\s\"`|)<]+"), "DATABASE"),
]


def _normalise(output: str) -> str:
    for pattern, replacement in VOLATILE:
        output = pattern.sub(replacement, output)
    return output


def _check(name: str, output: str) -> None:
    path = GOLDEN / name
    output = _normalise(output)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(output, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text(encoding="utf-8")
    if name.endswith(".json"):
        # PostgreSQL's JSONB does not keep the key order of free-form maps: compare JSON as data.
        assert json.loads(output) == json.loads(expected), f"{name} differs from its golden file"
    else:
        assert output == expected, f"{name} differs from its golden file"


def test_golden_plan_prune_and_drift(cli: CliEnv, tmp_path: Path) -> None:
    for fmt, ext in (("text", "txt"), ("markdown", "md"), ("json", "json")):
        _check(f"northwind_plan.{ext}", cli.ok("plan", NORTHWIND, "--format", fmt).out)
    cli.ok("apply", NORTHWIND, "--auto-approve")

    smaller = tmp_path / "smaller.yaml"
    body = NORTHWIND.read_text()
    for name in ("Travel Insurance Add-on", "Green Auto Loan"):
        start = body.index(f"  - apiVersion: decisionform/v1\n    kind: Offer\n    metadata: {{name: {name}")
        end = body.index("  - apiVersion", start + 10)
        body = body[:start] + body[end:]
    smaller.write_text(body.replace("priority: 65", "priority: 66"))
    for fmt, ext in (("text", "txt"), ("markdown", "md"), ("json", "json")):
        _check(f"northwind_prune.{ext}", cli.ok("plan", smaller, "--prune", "--format", fmt).out)

    db = Database(cli.url)
    try:
        with db.write() as conn:
            conn.execute(text("UPDATE offers SET priority = 41, version = version + 1 "
                              "WHERE name = 'Student Starter Card'"))
            conn.execute(text("UPDATE channels SET deleted_at = CURRENT_TIMESTAMP WHERE name = 'Direct Mail'"))
    finally:
        db.dispose()
    for fmt, ext in (("text", "txt"), ("markdown", "md"), ("json", "json")):
        _check(f"northwind_drift.{ext}", cli.run("refresh", "--format", fmt).out)
