"""The JSON output: byte-stable, and valid against the published JSON Schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import orjson
import pytest
import render_samples as samples

from decisionform.templates import DRIFT_SCHEMA, PLAN_SCHEMA, render_drift, render_plan

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "decisionform" / "templates"
PLAN = jsonschema.Draft202012Validator(PLAN_SCHEMA)
DRIFT = jsonschema.Draft202012Validator(DRIFT_SCHEMA)


def test_schemas_are_valid_and_published_copies_match() -> None:
    for name in ("plan.v1.schema.json", "drift.v1.schema.json"):
        published = (ROOT / "docs" / "schema" / name).read_bytes()
        assert published == (PACKAGE / name).read_bytes(), f"{name}: docs/schema and the package copy differ"
        jsonschema.Draft202012Validator.check_schema(json.loads(published))


@pytest.mark.parametrize("make", [samples.create_plan, samples.prune_plan, samples.empty_plan,
                                  lambda: samples.big_plan(300, 300, 300, 10)])
def test_plan_json_validates(make) -> None:
    PLAN.validate(json.loads(render_plan(make(), "json")))


def test_drift_json_validates() -> None:
    DRIFT.validate(json.loads(render_drift(samples.drift_report(), "json")))


def test_json_is_byte_stable() -> None:
    doc = samples.prune_plan()
    out = render_plan(doc, "json")
    assert out == orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
    assert out.startswith('{\n  "formatVersion": "1.0",\n  "planId": ')  # keys in the given order
    assert list(json.loads(out)) == list(doc)
    assert render_drift(samples.drift_report(), "json").endswith("}\n")


def test_minor_versions_and_unknown_fields_are_accepted() -> None:
    doc = json.loads(render_plan(samples.prune_plan(), "json"))
    doc["formatVersion"] = "1.7"
    doc["newTopLevelField"] = {"x": 1}
    doc["diffs"][0]["newDiffField"] = True
    PLAN.validate(doc)


@pytest.mark.parametrize(("path", "value"), [
    (("formatVersion",), "2.0"),
    (("formatVersion",), "1"),
    (("diffs", 0, "op"), "replace"),
    (("diffs", 1, "before"), None),  # an update needs both bodies
    (("diffs", 6, "after"), {"spec": {}}),  # a delete has no after
    (("summary", "created"), -1),
    (("planId",), ""),
])
def test_broken_plans_are_rejected(path: tuple, value: object) -> None:
    doc = json.loads(render_plan(samples.prune_plan(), "json"))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not PLAN.is_valid(doc)


def test_broken_drift_is_rejected() -> None:
    doc = samples.drift_report()
    doc["drift"][0]["status"] = "moved"
    assert not DRIFT.is_valid(doc)


def test_examples_in_the_documentation_validate() -> None:
    text = (ROOT / "docs" / "plan-json.md").read_text(encoding="utf-8")
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", text, flags=re.S)]
    plans = [b for b in blocks if "diffs" in b and "planId" in b]
    drifts = [b for b in blocks if "drift" in b]
    assert plans and drifts
    for b in plans:
        PLAN.validate(b)
    for b in drifts:
        DRIFT.validate(b)
