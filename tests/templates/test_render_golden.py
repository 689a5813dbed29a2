"""Golden files: text, markdown and JSON of a create plan, a prune plan, an empty plan and a drift report.

Regenerate with ``UPDATE_GOLDEN=1 pytest tests/templates`` and review the diff before committing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import render_samples as samples

from decisionform.templates import render_drift, render_plan

GOLDEN = Path(__file__).parent / "golden"
EXT = {"text": "txt", "markdown": "md", "json": "json"}
CASES: list[tuple[str, Callable[[], dict], Callable[..., str]]] = [
    ("plan_create", samples.create_plan, render_plan),
    ("plan_prune", samples.prune_plan, render_plan),
    ("plan_empty", samples.empty_plan, render_plan),
    ("drift", samples.drift_report, render_drift),
]


def check_golden(name: str, got: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(got.encode("utf-8"))
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    assert got == path.read_bytes().decode("utf-8")


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
@pytest.mark.parametrize(("name", "make", "render"), CASES, ids=[c[0] for c in CASES])
def test_golden(name: str, make: Callable[[], dict], render: Callable[..., str], fmt: str) -> None:
    check_golden(f"{name}.{EXT[fmt]}", render(make(), fmt))


def test_golden_colour_text() -> None:
    check_golden("plan_prune.color.txt", render_plan(samples.prune_plan(), "text", color=True))
    check_golden("drift.color.txt", render_drift(samples.drift_report(), "text", color=True))


@pytest.mark.parametrize(("name", "make", "render"), CASES, ids=[c[0] for c in CASES])
def test_rendering_is_deterministic(name: str, make: Callable[[], dict], render: Callable[..., str]) -> None:
    for fmt in EXT:
        assert render(make(), fmt) == render(make(), fmt)
