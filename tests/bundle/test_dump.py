"""Writing bundles: YAML both readers agree on, JSON, slugs and the files layout."""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
import yaml_rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decisionform.bundle.dump import dump_json, dump_yaml, files_layout, slugify, write_files_layout
from decisionform.bundle.source import read_bundle, read_bundle_text
from decisionform.errors import UsageError

CASES = Path("/work/shared/cases")

TRICKY = ["NO", "no", "No", "on", "off", "ON", "yes", "Yes", "y", "n", "Y", "true", "True", "FALSE", "~", "null",
          "Null", "010", "0x1F", "0o17", "0b101", "1_000", "_1", "12:30", "190:20:30", "2026-01-01",
          "2026-01-01T10:00:00Z", "1e3", "1.", ".5", "+1", "-0", ".inf", "-.Inf", "+.inf", ".nan", "NaN", "",
          " lead", "trail ", "a: b", "a #b", "#x", "line\nbreak", "x\n", "\n", "a\r\nb", "- x", "-", "?", ": x",
          "@x", "%x", "!x", "&a", "*a", "|", "> x", "=", "<<", "'q", '"q', "[x", "{x", "}", ",x", "\\", "\t", "a\tb",
          "\u2028", "\x85", "\ufeff", "\x7f", "\x00", "é", "日本", "😀", "x\u2029y", " ", "  x\n  y  "]
texts = st.one_of(st.sampled_from(TRICKY), st.text(max_size=20))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(texts, inner, max_size=4)), max_leaves=25)


def same(a: Any, b: Any) -> bool:
    """Equality where floats compare by value (1e300 written and read back may differ in the last bit)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or math.isclose(a, b, rel_tol=1e-15)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("word", TRICKY)
def test_tricky_strings_read_back_as_strings_in_both_readers(word: str) -> None:
    doc = {word: [word, {"k": word}]}
    text = dump_yaml(doc)
    assert yaml_rs.loads(text, parse_datetime=False) == doc
    assert yaml.safe_load(text) == doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_yaml_round_trips_through_yaml12_and_yaml11(value: Any) -> None:
    text = dump_yaml(value)
    assert same(yaml_rs.loads(text, parse_datetime=False), value)
    assert same(yaml.safe_load(text), value)


@settings(max_examples=100, deadline=None)
@given(st.lists(values, max_size=3))
def test_dumped_bundles_read_back_with_read_bundle_text(resources: list[Any]) -> None:
    bundle = read_bundle_text(dump_yaml({"manifest": {"tenant": "NO"}, "resources": resources}))
    assert bundle.manifest == {"tenant": "NO"}
    assert same([entry.data for entry in bundle.entries], resources)


def test_yaml_is_block_style_in_the_given_key_order() -> None:
    text = dump_yaml({"b": 1, "a": {"z": [1, "NO"], "y": "2026-01-01"}})
    assert text == 'b: 1\na:\n  z:\n    - 1\n    - "NO"\n  y: "2026-01-01"\n'


def test_json_is_indented_utf8_with_a_newline() -> None:
    assert dump_json({"b": "é", "a": [1]}) == '{\n  "b": "é",\n  "a": [\n    1\n  ]\n}\n'
    assert json.loads(dump_json({"big": 2**70})) == {"big": 2**70}


@pytest.mark.skipif(not CASES.is_dir(), reason="the handed cases are not on this machine")
def test_h02_export_is_read_the_same_by_a_yaml11_reader() -> None:
    bundle = read_bundle(str(CASES / "H02-yaml11-booleans-norway" / "bundle.yaml"))
    doc = {"manifest": bundle.manifest, "resources": [entry.data for entry in bundle.entries]}
    assert yaml.safe_load(dump_yaml(doc)) == doc


# ---------------------------------------------------------------------------- slugs and the layout

@pytest.mark.parametrize(("name", "slug"), [
    ("Platinum Travel Card", "platinum-travel-card"), ("Crème Brûlée", "creme-brulee"), ("Straße", "strasse"),
    ("../../etc/passwd", "etc-passwd"), ("/abs/path", "abs-path"), ("a\\b", "a-b"), ("x\x00y", "x-y"),
    ("CON", "con-resource"), ("lpt9", "lpt9-resource"), ("com¹", "com1-resource"), ("..", "resource"),
    (".", "resource"), ("", "resource"), ("日本", "resource"), ("  --Gold--  ", "gold"),
])
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


@given(st.text())
def test_slugs_are_always_safe(name: str) -> None:
    slug = slugify(name)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) and len(slug) <= 80 + len("-resource")
    assert slug not in {"con", "prn", "aux", "nul", "com1", "lpt1"}


FOLDERS = {"Offer": "offers", "Channel": "channels", "DecisionFlow": "decision-flows"}
NAMES = ["Gold Card", "gold card", "GOLD-CARD", "../x", "/etc/passwd", "a/b", "..", ".", "CON", "nul", "x\x00y",
         "C:\\win", "", "日本", "中文", "gold-card", "manifest"]


def resource(kind: str, name: str, spec: Any = None) -> dict[str, Any]:
    return {"apiVersion": "decisionform/v1", "kind": kind, "metadata": {"name": name}, "spec": spec or {"x": name}}


resource_lists = st.lists(
    st.tuples(st.sampled_from(sorted(FOLDERS)), st.one_of(st.sampled_from(NAMES), st.text(max_size=12))),
    unique=True, max_size=12).map(lambda pairs: [resource(kind, name) for kind, name in pairs])


@settings(max_examples=200, deadline=None)
@given(resource_lists, st.randoms())
def test_layout_paths_stay_in_their_folder_are_distinct_and_order_free(resources: list[dict[str, Any]],
                                                                     rnd: Any) -> None:
    files = files_layout({"apiVersion": "decisionform/v1"}, resources, FOLDERS)
    assert len(files) == len(resources) + 1 and "manifest.yaml" in files
    for path in files:
        if path != "manifest.yaml":
            folder, stem = path.split("/")
            assert folder in FOLDERS.values() and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*\.yaml", stem)
    shuffled = list(resources)
    rnd.shuffle(shuffled)
    assert files_layout({"apiVersion": "decisionform/v1"}, shuffled, FOLDERS) == files


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resource_lists, st.lists(values, min_size=1, max_size=12))
def test_layout_reads_back_as_the_same_bundle(resources: list[dict[str, Any]], specs: list[Any]) -> None:
    resources = [dict(r, spec={"v": specs[i % len(specs)]}) for i, r in enumerate(resources)]
    manifest = {"apiVersion": "decisionform/v1", "tenant": "NO"}
    with tempfile.TemporaryDirectory() as out:
        write_files_layout(files_layout(manifest, resources, FOLDERS), Path(out) / "bundle")
        if not resources:
            return
        bundle = read_bundle(Path(out) / "bundle")
    assert bundle.manifest == manifest
    key = lambda r: (r["kind"], r["metadata"]["name"])  # noqa: E731
    assert same(sorted((e.data for e in bundle.entries), key=key), sorted(resources, key=key))


def test_colliding_names_get_stable_hash_suffixes() -> None:
    files = files_layout({}, [resource("Offer", "Gold Card"), resource("Offer", "gold card"),
                              resource("Offer", "Silver")], FOLDERS)
    gold = sorted(p for p in files if p.startswith("offers/gold-card-"))
    assert len(gold) == 2 and all(re.fullmatch(r"offers/gold-card-[0-9a-f]{6}\.yaml", p) for p in gold)
    assert "offers/silver.yaml" in files


def test_unsafe_folders_and_duplicates_are_refused() -> None:
    with pytest.raises(ValueError, match="unsafe folder"):
        files_layout({}, [resource("Offer", "a")], {"Offer": "../up"})
    with pytest.raises(ValueError, match="two resources named"):
        files_layout({}, [resource("Offer", "a"), resource("Offer", "a")], FOLDERS)


@pytest.mark.parametrize("bad", ["../x.yaml", "/etc/x.yaml", "a/../../b.yaml", "a\\b.yaml", "x\x00.yaml", "",
                                 "C:/x.yaml", "a//b.yaml", "./a.yaml"])
def test_write_refuses_paths_outside_the_folder(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UsageError, match="refusing to write"):
        write_files_layout({"ok.yaml": "a: 1\n", bad: "a: 1\n"}, tmp_path / "out")
    assert not (tmp_path / "out" / "ok.yaml").exists()  # checked before anything is written


def test_write_refuses_a_symlinked_folder_that_leaves(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "offers").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="refusing to write"):
        write_files_layout({"offers/a.yaml": "a: 1\n"}, tmp_path / "out")
    assert list((tmp_path / "elsewhere").iterdir()) == []
