"""Markdown stays under GitHub's comment limit for any plan size, keeping totals and deletes first."""

from __future__ import annotations

import re
import time

import pytest
import render_samples as samples

from decisionform.templates import MARKDOWN_LIMIT, render_drift, render_plan


def code_span(text: str) -> str:
    """The code span the renderer writes for a plain address (no backticks in it)."""
    return f"`{text}`"


def listed_deletes(md: str) -> list[str]:
    """Delete names in the warning block, without the '… N more' item."""
    block = md.split("> [!WARNING]\n", 1)[1].split("\n\n", 1)[0]
    items = [line[len("> - "):] for line in block.splitlines() if line.startswith("> - ")]
    return [item for item in items if not item.startswith("…")]


def check_limit(md: str) -> None:
    assert len(md) <= MARKDOWN_LIMIT
    assert len(md.encode("utf-8")) <= MARKDOWN_LIMIT


def test_20000_changes_fit_with_totals_and_deletes_first() -> None:
    doc = samples.big_plan(creates=10_000, updates=5_000, deletes=5_000, unchanged=250)
    assert len([d for d in doc["diffs"] if d["op"] != "unchanged"]) == 20_000
    started = time.perf_counter()
    md = render_plan(doc, "markdown")
    elapsed = time.perf_counter() - started
    print(f"20,000-change markdown: {elapsed * 1000:.0f} ms, {len(md)} characters")
    check_limit(md)

    # The totals, exactly.
    assert "**Plan: 10000 to create, 5000 to update, 5000 to delete, 250 unchanged.**" in md
    assert "| **total** | **10000** | **5000** | **5000** | **250** |" in md
    assert "| Offer | 10000 | 0 | 0 | 0 |" in md
    assert "| Channel | 0 | 0 | 5000 | 0 |" in md
    assert md.startswith("<!-- decisionform:plan tenant=northwind -->\n")

    # Delete names come before any detail, in execution order, and the rest is counted honestly.
    expected = [code_span(f'Channel "{d["name"]}"') for d in doc["diffs"] if d["op"] == "delete"]
    shown = listed_deletes(md)
    assert 0 < len(shown) < len(expected)
    assert shown == expected[: len(shown)]
    hidden = len(expected) - len(shown)
    assert f"> - … {hidden} more deletes not shown (see the plan JSON artifact)\n" in md
    assert md.index("| **total**") < md.index("> [!WARNING]") < md.index("more changes not shown")
    # Details are dropped before delete names: none is shown, all 15,000 are counted.
    assert "<details>" not in md
    assert "\n… 15000 more changes not shown (see the plan JSON artifact)\n" in md


def test_all_deletes_fit_then_details_until_budget() -> None:
    doc = samples.big_plan(creates=12_000, updates=7_950, deletes=50, unchanged=0)
    md = render_plan(doc, "markdown")
    check_limit(md)
    assert "**Plan: 12000 to create, 7950 to update, 50 to delete, 0 unchanged.**" in md
    expected = [code_span(f'Channel "{d["name"]}"') for d in doc["diffs"] if d["op"] == "delete"]
    assert listed_deletes(md) == expected
    assert "more deletes not shown" not in md
    shown_details = md.count("<details>")
    assert shown_details > 10
    # The details shown are the first changes in execution order.
    first = [d for d in doc["diffs"] if d["op"] in ("create", "update")][:shown_details]
    summaries = re.findall(r"<summary>\+ <code>(.*?)</code>", md)
    assert summaries == [f'Offer "{d["name"]}"'.replace("&", "&amp;") for d in first]
    assert f"\n… {12_000 + 7_950 - shown_details} more changes not shown (see the plan JSON artifact)\n" in md
    assert md.index("> [!WARNING]") < md.index("<details>")


@pytest.mark.parametrize("deletes", [0, 1, 800, 3000])
def test_budget_holds_at_every_size(deletes: int) -> None:
    md = render_plan(samples.big_plan(creates=300, updates=300, deletes=deletes, unchanged=5), "markdown")
    check_limit(md)
    shown = listed_deletes(md) if deletes else []
    hidden = re.search(r"… (\d+) more deletes not shown", md)
    assert len(shown) + (int(hidden.group(1)) if hidden else 0) == deletes


def test_huge_values_and_names_are_shortened() -> None:
    doc = samples.big_plan(creates=1, updates=0, deletes=1, unchanged=0)
    doc["diffs"][0]["after"]["spec"]["shortDesc"] = "x" * 100_000
    doc["diffs"][0]["after"]["spec"]["tags"] = [f"t{i}" for i in range(500)]
    doc["diffs"][0]["after"]["spec"]["customFields"] = {f"f{i}": i for i in range(200)}
    doc["diffs"][1]["name"] = "n" * 5000
    md = render_plan(doc, "markdown")
    check_limit(md)
    assert '`"' + "x" * 118 + "…` |" in md
    assert "more fields (see the plan JSON artifact)" in md
    assert "<details>" in md


def test_drift_markdown_budget() -> None:
    drift = [{"kind": "Offer", "name": f"Offer {i}", "status": "deleted", "changedFields": []} for i in range(4000)]
    drift += [{"kind": "Channel", "name": f"Channel {i}", "status": "unmanaged", "changedFields": []}
              for i in range(4000)]
    doc = {"formatVersion": "1.0", "tenant": "acme", "drift": drift,
           "summary": {"changed": 0, "deleted": 4000, "unmanaged": 4000}}
    md = render_drift(doc, "markdown")
    check_limit(md)
    assert "**Drift: 0 changed, 4000 deleted, 4000 unmanaged.**" in md
    shown = listed_deletes(md)
    assert shown == [code_span(f'Offer "Offer {i}"') for i in range(len(shown))]
    assert f"> - … {4000 - len(shown)} more not shown (see the drift JSON artifact)" in md
    # Unmanaged names come after every deleted name; here none fit, and all are counted.
    assert "> - … 4000 more not shown (see the drift JSON artifact)" in md


def test_huge_header_fields_stay_within_budget() -> None:
    doc = samples.big_plan(creates=5, updates=0, deletes=5, unchanged=0)
    doc["tenant"] = "t" * 100_000
    doc["planId"] = "p" * 100_000
    doc["options"]["targets"] = [f"Offer.Offer {i}" for i in range(20_000)]
    md = render_plan(doc, "markdown")
    check_limit(md)
    assert md.startswith("<!-- decisionform:plan tenant=" + "t" * 299 + "%E2%80%A6 -->\n")
