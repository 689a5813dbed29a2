"""value_at, field_changes, colour, empty plans and escaping of user text."""

from __future__ import annotations

import re

import render_samples as samples
from hypothesis import given, settings
from hypothesis import strategies as st

from decisionform.templates import MISSING, field_changes, render_drift, render_plan, value_at
from decisionform.templates.render import _cell, _code

BODY = {
    "metadata": {"name": "Flow", "labels": {"tier": "gold", "app.kubernetes.io/name": "df"}},
    "spec": {
        "budget": {"dailyCapCents": 500},
        "nodes": [{"id": "a"}, {"id": "b", "config": {"rules": ["Adults only", "Residents"]}}],
        "customFields": {"Annual Fee": 95},
    },
}


def test_value_at_paths() -> None:
    assert value_at(BODY, "spec.budget.dailyCapCents") == 500
    assert value_at(BODY, "spec.nodes[1].config.rules[0]") == "Adults only"
    assert value_at(BODY, "metadata.labels.tier") == "gold"
    assert value_at(BODY, "metadata.labels.app.kubernetes.io/name") == "df"  # a key with dots
    assert value_at(BODY, 'metadata.labels["app.kubernetes.io/name"]') == "df"
    assert value_at(BODY, "spec.customFields.Annual Fee") == 95
    assert value_at(BODY, "spec") is BODY["spec"]
    assert value_at(BODY, "") is BODY


def test_value_at_missing() -> None:
    for path in ("spec.nope", "spec.nodes[5]", "spec.nodes[0].config", "spec.budget[0]", "spec.budget.x.y",
                 "spec.nodes.id", "spec[", "metadata.labels.tier.x"):
        assert value_at(BODY, path) is MISSING, path
    assert value_at(None, "spec.x") is MISSING
    assert not MISSING
    assert repr(MISSING) == "MISSING"


def test_field_changes_of_the_issue_example() -> None:
    diff = {
        "kind": "Offer", "name": "Gold Card", "op": "update",
        "changedFields": ["spec.priority", "metadata.labels.tier", "spec.tags"],
        "before": {"metadata": {"labels": {"tier": "gold"}}, "spec": {"priority": 50, "tags": ["a", "b"]}},
        "after": {"metadata": {}, "spec": {"priority": 60, "tags": ["a"]}},
    }
    assert field_changes(diff) == [
        ("spec.priority", 50, 60),
        ("metadata.labels.tier", "gold", MISSING),
        ("spec.tags[1]", "b", MISSING),
    ]


def test_long_lists_are_diffed_element_by_element() -> None:
    before = [f"t{i}" for i in range(100)]
    after = ["first", *before[:50], *before[51:], "last"]
    diff = {"op": "update", "changedFields": ["spec.tags"], "before": {"spec": {"tags": before}},
            "after": {"spec": {"tags": after}}}
    assert field_changes(diff) == [
        ("spec.tags[0]", MISSING, "first"),
        ("spec.tags[50]", "t50", MISSING),
        ("spec.tags[100]", MISSING, "last"),
    ]
    text = render_plan({"tenant": "t", "planId": "p", "diffs": [{"kind": "Offer", "name": "X", **diff}]}, "text")
    assert "# (99 unchanged elements in spec.tags)" in text


def test_nested_changes_inside_list_elements() -> None:
    before = {"spec": {"nodes": [{"id": "a", "config": {"n": 1}}, {"id": "b", "config": {"n": 2}}]}}
    after = {"spec": {"nodes": [{"id": "a", "config": {"n": 1}}, {"id": "b", "config": {"n": 3, "m": True}}]}}
    diff = {"op": "update", "changedFields": ["spec.nodes"], "before": before, "after": after}
    assert field_changes(diff) == [("spec.nodes[1].config.n", 2, 3), ("spec.nodes[1].config.m", MISSING, True)]


def test_changed_paths_are_never_hidden() -> None:
    # The engine says a path changed but the bodies cannot show it: the path is still listed.
    diff = {"op": "update", "changedFields": ["spec.gone", "spec.same"],
            "before": {"spec": {"same": 1}}, "after": {"spec": {"same": 1}}}
    assert [c[0] for c in field_changes(diff)] == ["spec.gone", "spec.same"]
    # 1 -> true is a change even though 1 == True in Python.
    diff = {"op": "update", "changedFields": ["spec.flag"], "before": {"spec": {"flag": 1}},
            "after": {"spec": {"flag": True}}}
    assert field_changes(diff) == [("spec.flag", 1, True)]
    # No changedFields: the bodies are compared.
    diff = {"op": "update", "before": {"spec": {"a": 1, "b": 2}}, "after": {"spec": {"a": 1, "b": 3}}}
    assert field_changes(diff) == [("spec.b", 2, 3)]


def test_field_changes_of_create_delete_unchanged() -> None:
    create = samples.create_plan()["diffs"][0]
    assert field_changes(create)[0] == ("spec.icon", MISSING, "credit-card")
    assert all(b is MISSING for _, b, _ in field_changes(create))
    delete = samples.prune_plan()["diffs"][-1]
    assert field_changes(delete) == [("spec.category", "Credit Cards", MISSING), ("spec.priority", 10, MISSING)]
    assert field_changes(samples.prune_plan()["diffs"][0]) == []


def test_colour_only_when_asked() -> None:
    for doc, render in ((samples.prune_plan(), render_plan), (samples.drift_report(), render_drift)):
        plain = render(doc, "text")
        coloured = render(doc, "text", color=True)
        assert "\x1b[" not in plain
        assert "\x1b[31m-\x1b[0m" in coloured and "\x1b[33m~\x1b[0m" in coloured
        assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain
        for fmt in ("markdown", "json"):
            assert "\x1b" not in render(doc, fmt, color=True)
    assert "\x1b[32m+\x1b[0m" in render_plan(samples.create_plan(), "text", color=True)


def test_empty_plan_says_no_changes() -> None:
    text = render_plan(samples.empty_plan(), "text")
    assert "No changes. The database matches the bundle." in text
    assert text.endswith("Plan: 0 to create, 0 to update, 0 to delete, 2 unchanged.\n")
    assert "<details>" not in render_plan(samples.empty_plan(), "markdown")
    bare = {"formatVersion": "1.0", "planId": "p", "tenant": "t", "diffs": [], "summary": {}}
    assert "No changes." in render_plan(bare, "text")
    assert "Plan: 0 to create, 0 to update, 0 to delete, 0 unchanged." in render_plan(bare, "text")


def test_text_ends_with_one_summary_line_and_starts_with_the_summary() -> None:
    text = render_plan(samples.prune_plan(), "text")
    lines = text.splitlines()
    assert lines[-1] == "Plan: 0 to create, 4 to update, 2 to delete, 2 unchanged."
    assert sum(line.startswith("Plan: ") for line in lines) == 1
    assert text.index("Will delete 2 resources:") < text.index('~ Channel "Email"')


def test_credentials_never_shown() -> None:
    doc = samples.prune_plan()
    doc["database"] = "postgresql://admin:hunter2@db.internal:5432/prod?sslpassword=s3cret"
    for fmt in ("text", "markdown", "json"):
        out = render_plan(doc, fmt)
        assert "hunter2" not in out and "s3cret" not in out and "admin" not in out
        assert "postgresql://db.internal:5432/prod" in out
    assert doc["database"].startswith("postgresql://admin")  # the input is not modified


def test_marker_is_stable_across_plans() -> None:
    a, b = samples.create_plan(), samples.prune_plan()
    assert render_plan(a, "markdown").splitlines()[0] == render_plan(b, "markdown").splitlines()[0]
    doc = samples.empty_plan()
    doc["tenant"] = "evil --> <b>x</b>"
    assert render_plan(doc, "markdown").splitlines()[0] == (
        "<!-- decisionform:plan tenant=evil%20--%3E%20%3Cb%3Ex%3C%2Fb%3E -->")


def test_code_spans_and_cells() -> None:
    assert _code("plain") == "`plain`"
    assert _code("a`b") == "``a`b``"
    assert _code("`x`") == "`` `x` ``"
    assert _code("a``b`") == "``` a``b` ```"
    assert _cell("`a|b`") == "`a\\|b`"
    assert _cell("`a\\|b`") == "`a\\\\\\|b`"  # an odd backslash run before a pipe is made even
    assert _cell("`a\\\\|b`") == "`a\\\\\\|b`"


def split_cells(row: str) -> list[str]:
    """Split a GFM table row like GitHub: a backslash escapes the next character."""
    cells, cur, i = [], "", 0
    while i < len(row):
        ch = row[i]
        if ch == "\\" and i + 1 < len(row):
            cur += row[i : i + 2]
            i += 2
            continue
        if ch == "|":
            cells.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    return [*cells, cur][1:-1]


NAMES = st.text(min_size=1, max_size=40) | st.sampled_from(
    ["a|b", "`", "``x``", "a\\|b", "<script>", "x & y %", "\u202eevil", "line\nbreak", "@team #1 :smile:",
     "👨‍👩‍👧 family", "-->", "| --- |", "\\", "*bold* _it_"])


@settings(max_examples=150, deadline=None)
@given(name=NAMES, value=NAMES)
def test_user_text_never_breaks_the_layout(name: str, value: str) -> None:
    doc = {
        "formatVersion": "1.0", "planId": "p1", "tenant": "t", "options": {}, "dryRun": True,
        "diffs": [
            {"kind": "Offer", "name": name, "op": "update", "changedFields": ["spec.shortDesc"],
             "before": {"spec": {"shortDesc": value}}, "after": {"spec": {"shortDesc": value + "!"}}},
            {"kind": "Offer", "name": name, "op": "delete", "changedFields": [], "before": {}, "after": None},
        ],
        "summary": {"created": 0, "updated": 1, "deleted": 1, "unchanged": 0},
    }
    md = render_plan(doc, "markdown")
    lines = md.splitlines()
    assert lines[0] == "<!-- decisionform:plan tenant=t -->"
    summaries = [line for line in lines if line.startswith("<details>")]
    assert len(summaries) == 1
    assert re.fullmatch(r"<details><summary>~ <code>[^<>]*</code> \(1 field\)</summary>", summaries[0])
    rows = [line for line in lines if line.startswith("| `spec.shortDesc` |")]
    assert len(rows) == 1 and len(split_cells(rows[0])) == 3
    warning = md.split("> [!WARNING]\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(warning) == 2 and warning[1].startswith("> - `")
    for fmt in ("text",):
        text = render_plan(doc, fmt)
        assert "\x1b" not in text and "\u202e" not in text
        assert len(text.splitlines()) == len(render_plan({**doc, "diffs": [
            {**d, "name": "x", "before": d["before"] and {"spec": {"shortDesc": "v"}},
             "after": d["after"] and {"spec": {"shortDesc": "w"}}} for d in doc["diffs"]]}, fmt).splitlines())


def test_counts_by_kind_never_contradict_the_summary() -> None:
    # The engine may leave unchanged resources out of diffs: per-kind cells that cannot add up show "–".
    doc = samples.prune_plan()
    doc["diffs"] = [d for d in doc["diffs"] if d["op"] != "unchanged"]
    doc["summary"]["unchanged"] = 48
    md = render_plan(doc, "markdown")
    assert "| Offer | 0 | 2 | 1 | – |" in md
    assert "| **total** | **0** | **4** | **2** | **48** |" in md
    text = render_plan(doc, "text")
    assert "  Offer              0       2       1          –" in text
    assert text.endswith("Plan: 0 to create, 4 to update, 2 to delete, 48 unchanged.\n")
