"""Reading bundles: shapes, YAML 1.2 typing, located errors, and the H02/H03/H04/H09 cases."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decisionform.bundle import source
from decisionform.bundle.source import RawBundle, read_bundle, read_bundle_text
from decisionform.errors import ParseError

CASES = Path("/work/shared/cases")
needs_cases = pytest.mark.skipif(not CASES.is_dir(), reason="the handed cases are not on this machine")


def error_of(target: str | Path, **kwargs: object) -> ParseError:
    with pytest.raises(ParseError) as caught:
        read_bundle(target) if not kwargs else read_bundle_text(**kwargs)  # type: ignore[arg-type]
    return caught.value


def text_error(text: str | bytes, **kwargs: object) -> ParseError:
    with pytest.raises(ParseError) as caught:
        read_bundle_text(text, **kwargs)  # type: ignore[arg-type]
    return caught.value


def entry_named(bundle: RawBundle, name: str) -> source.RawEntry:
    return next(e for e in bundle.entries if e.data["metadata"]["name"] == name)


# ---------------------------------------------------------------------------- shapes

BUNDLE = textwrap.dedent("""\
    manifest:
      apiVersion: decisionform/v1
      tenant: acme
    resources:
      - apiVersion: decisionform/v1
        kind: Category
        metadata: {name: Credit Cards}
        spec: {status: active}
      - apiVersion: decisionform/v1
        kind: Offer
        metadata:
          name: Gold Card
          labels: {team: cards}
        spec:
          category: Credit Cards
          priority: 50
          tags: [a, b]
    """)


def shape_of(bundle: RawBundle) -> tuple[object, list[object]]:
    return bundle.manifest, [entry.data for entry in bundle.entries]


def test_all_input_forms_read_the_same(tmp_path: Path) -> None:
    import yaml

    expected = shape_of(read_bundle_text(BUNDLE, filename="b.yaml"))
    data = yaml.safe_load(BUNDLE)
    as_json = json.dumps(data)
    stream = "---\n" + yaml.safe_dump({"manifest": data["manifest"]}) + "".join(
        "---\n" + yaml.safe_dump(r, sort_keys=False) for r in data["resources"])
    (tmp_path / "dir" / "offers").mkdir(parents=True)
    (tmp_path / "dir" / "categories").mkdir()
    (tmp_path / "dir" / "manifest.yaml").write_text(yaml.safe_dump(data["manifest"]))  # bare form
    (tmp_path / "dir" / "categories" / "credit-cards.yaml").write_text(yaml.safe_dump(data["resources"][0]))
    (tmp_path / "dir" / "offers" / "gold-card.json").write_text(json.dumps(data["resources"][1]))
    (tmp_path / "dir" / ".hidden.yaml").write_text("{broken")
    (tmp_path / "dir" / "notes.txt").write_text("not read")
    assert shape_of(read_bundle_text(as_json)) == expected
    assert shape_of(read_bundle_text(as_json.encode(), syntax="json")) == expected
    assert shape_of(read_bundle_text(stream)) == expected
    assert shape_of(read_bundle(tmp_path / "dir")) == expected


def test_directory_entries_name_their_files(tmp_path: Path) -> None:
    (tmp_path / "offers").mkdir()
    (tmp_path / "manifest.yaml").write_text("manifest: {apiVersion: decisionform/v1}\n")
    (tmp_path / "offers" / "b.yaml").write_text("kind: Offer\nmetadata: {name: B}\n")
    (tmp_path / "offers" / "a.yaml").write_text("resources:\n  - kind: Offer\n    metadata: {name: A}\n")
    bundle = read_bundle(tmp_path)
    assert [e.data["metadata"]["name"] for e in bundle.entries] == ["A", "B"]  # sorted, deterministic
    assert str(bundle.entries[1].locate(("metadata", "name"))) == f"{tmp_path}/offers/b.yaml:2:18"
    assert bundle.entries[0].prefix == ("resources", 0)
    assert bundle.manifest_doc is not None and bundle.manifest_doc.file.endswith("manifest.yaml")


def test_explicit_empty_resources_is_valid() -> None:
    bundle = read_bundle_text("resources: []\n")
    assert bundle.entries == [] and bundle.manifest is None


def test_entries_pass_through_unvalidated() -> None:
    bundle = read_bundle_text("resources: [1, null, {kind: Offer}]\n")
    assert [e.data for e in bundle.entries] == [1, None, {"kind": "Offer"}]


def test_yaml12_typing_keeps_words_and_dates_as_strings() -> None:
    text = "resources: []\nmanifest: {a: no, b: NO, c: on, d: y, e: 12:30, f: 2026-01-01, g: 010, h: true, i: ~}\n"
    manifest = read_bundle_text(text).manifest
    assert manifest == {"a": "no", "b": "NO", "c": "on", "d": "y", "e": "12:30", "f": "2026-01-01",
                        "g": 10, "h": True, "i": None}


def test_a_bom_and_crlf_are_accepted() -> None:
    bundle = read_bundle_text("\ufeffresources:\r\n  - {kind: Offer}\r\n".encode())
    assert bundle.entries[0].data == {"kind": "Offer"}


def test_json_looking_yaml_falls_back_to_yaml() -> None:
    assert read_bundle_text("{resources: [{kind: Offer}]}").entries[0].data == {"kind": "Offer"}


def test_file_syntax_by_extension_or_sniffed(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text('{"resources": [{"kind": "Offer"}]}')
    (tmp_path / "b.yml").write_text("resources: [{kind: Offer}]\n")
    (tmp_path / "yaml.json").write_text("resources: [{kind: Offer}]\n")
    assert read_bundle(tmp_path / "b.txt").entries[0].data == {"kind": "Offer"}
    assert read_bundle(tmp_path / "b.yml").entries[0].data == {"kind": "Offer"}
    assert "JSON syntax error" in str(error_of(tmp_path / "yaml.json"))  # .json is JSON only


def test_did_you_mean() -> None:
    from decisionform.bundle.suggest import did_you_mean

    assert did_you_mean("resource", ["manifest", "resources"]) == "resources"
    assert did_you_mean("offer", ["Offer", "Channel"]) == "Offer"
    assert did_you_mean("Categroy", ["Category", "SubCategory"]) == "Category"
    assert did_you_mean("zzz", ["manifest", "resources"]) is None
    assert did_you_mean("x", []) is None


# ---------------------------------------------------------------------------- locations

def test_locate_values_keys_and_ancestors() -> None:
    bundle = read_bundle_text(BUNDLE, filename="b.yaml")
    gold = entry_named(bundle, "Gold Card")
    assert str(gold.locate(("spec", "priority"))) == "b.yaml:16:17"
    assert str(gold.locate_key(("spec", "priority"))) == "b.yaml:16:7"
    assert str(gold.locate(("spec", "tags", 1))) == "b.yaml:17:17"
    assert str(gold.locate(("spec", "missing", "deeper"))) == "b.yaml:15:7"  # the deepest ancestor: spec
    assert str(gold.locate_key(("spec", "tags", 0))) == "b.yaml:17:14"  # a list item has no key
    assert str(gold.locate()) == "b.yaml:9:5"


def test_locate_through_an_alias_and_in_later_documents() -> None:
    text = "resources:\n  - labels: &l {team: x}\n  - labels: *l\n---\nkind: Offer\nspec: {a: 1}\n"
    bundle = read_bundle_text(text, filename="s.yaml")
    assert str(bundle.entries[1].locate(("labels",))) == "s.yaml:3:13"
    assert str(bundle.entries[1].locate(("labels", "team"))) == "s.yaml:2:23"
    assert str(bundle.entries[2].locate(("spec", "a"))) == "s.yaml:6:11"


def test_locating_is_lazy() -> None:
    bundle = read_bundle_text(BUNDLE)
    holder = bundle.entries[0].doc._source
    assert holder is not None and holder._trees is None  # no PyYAML pass on the success path
    bundle.entries[0].locate(("spec",))
    assert holder._trees is not None


# ---------------------------------------------------------------------------- syntax errors

def test_yaml_syntax_error_is_located_on_one_line() -> None:
    err = text_error("resources:\n  - [1, 2\n", filename="x.yaml")
    assert str(err).startswith("x.yaml:2:5: YAML syntax error: unclosed bracket")
    assert "\n" not in str(err)


def test_syntax_error_at_the_end_keeps_its_own_position() -> None:
    err = text_error('resources: []\nname: "unclosed', filename="x.yaml")
    assert str(err.issues[0].location) == "x.yaml:2:7"


def test_json_syntax_error_is_located() -> None:
    err = text_error('{"resources": [\n  {"kind": "Offer",}\n]}', filename="b.json", syntax="json")
    assert str(err).startswith("b.json:2:20: JSON syntax error")


def test_invalid_utf8_is_located() -> None:
    err = text_error(b"resources: []\nname: caf\xe9\n", filename="b.yaml")
    assert str(err) == "b.yaml:2:10: not valid UTF-8 text: cannot decode byte 0xe9"


def test_nul_is_refused_not_truncated() -> None:
    err = text_error("resources: []\nmanifest: {a: x\x00y}\n", filename="b.yaml")
    assert str(err) == "b.yaml:2:16: a NUL character is not allowed"


def test_lone_surrogate_in_a_str_is_refused() -> None:
    assert "surrogate" in str(text_error("resources: []\nx: \ud800\n"))


def test_size_cap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(source, "MAX_DOCUMENT_BYTES", 100)
    big = "resources: []\n" + "#" * 200 + "\n"
    assert "document is 215 bytes, over the size cap of 100 bytes" in str(text_error(big))
    (tmp_path / "big.yaml").write_text(big)
    assert "big.yaml: document is" in str(error_of(tmp_path / "big.yaml"))


# ---------------------------------------------------------------------------- H03 duplicate keys

@needs_cases
@pytest.mark.parametrize(("name", "key", "line", "first", "path"), [
    ("dup-label.yaml", "team", 16, 15, "resources[1].metadata.labels"),
    ("dup-spec.yaml", "priority", 18, 15, "resources[1].spec"),
    ("dup-resources-key.yaml", "resources", 27, 6, None),
    ("bundle.json", "priority", 13, 11, "resources[1].spec"),
])
def test_h03_duplicate_keys(name: str, key: str, line: int, first: int, path: str | None) -> None:
    target = str(CASES / "H03-duplicate-keys" / name)
    err = error_of(target)
    issue = err.issues[0]
    assert f"duplicate key '{key}'" in issue.message and f"first defined at line {first}" in issue.message
    assert issue.location is not None and (issue.location.file, issue.location.line) == (target, line)
    assert issue.path == path
    if path is not None:  # the lead names the resource from these
        doc_path = err.doc_path  # type: ignore[attr-defined]
        resource = err.doc.data[doc_path[0]][doc_path[1]]  # type: ignore[attr-defined]
        assert resource["metadata"]["name"] == "Gold Card"


def test_duplicate_key_in_a_request_body_and_a_stream() -> None:
    err = text_error('{"resources": [], "a": {"x": 1,\n "x": 2}}')
    assert str(err) == '<request body>:2:2: a: duplicate key \'x\' (first defined at line 1)'
    err = text_error("resources: []\n---\nkind: Offer\nspec: {a: 1, a: 2}\n", filename="s.yaml")
    assert str(err.issues[0].location) == "s.yaml:4:14" and err.doc.index == 1  # type: ignore[attr-defined]


@needs_cases
def test_h03_same_resource_twice_reads_with_both_locations() -> None:
    bundle = read_bundle(str(CASES / "H03-duplicate-keys" / "dup-resource.yaml"))
    golds = [e for e in bundle.entries if e.data["metadata"]["name"] == "Gold Card"]
    assert [(e.prefix, e.locate().line) for e in golds] == [(("resources", 1), 10), (("resources", 3), 18)]
    flow = read_bundle(str(CASES / "H03-duplicate-keys" / "dup-node-id.yaml")).entries[3]
    assert flow.locate(("spec", "nodes", 2, "id")).line == 39  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- H02 YAML 1.1 words

@needs_cases
def test_h02_norway_stays_a_string() -> None:
    bundle = read_bundle(str(CASES / "H02-yaml11-booleans-norway" / "bundle.yaml"))
    offer = entry_named(bundle, "Nordic Saver").data
    assert offer["metadata"]["labels"] == {"country": "NO", "lang": "no"}
    assert offer["spec"]["tags"] == ["SE", "NO", "DK", "FI", "IS"] and offer["spec"]["mandatory"] is False
    creative = next(e.data for e in bundle.entries if e.data["kind"] == "Creative")
    assert creative["spec"]["content"]["defaultLocale"] == "no"
    assert set(creative["spec"]["content"]["body"]) == {"no", "sv", "da", "fi", "en"}
    quoted = read_bundle(str(CASES / "H02-yaml11-booleans-norway" / "bundle-quoted.yaml"))
    assert shape_of(quoted)[1] == shape_of(bundle)[1]


@needs_cases
def test_h02_bool_words_are_read_as_strings_with_their_lines() -> None:
    bundle = read_bundle(str(CASES / "H02-yaml11-booleans-norway" / "bundle-bool-words.yaml"))
    found = {(e.data["metadata"]["name"], e.locate(("spec", field)).line, e.data["spec"][field])  # type: ignore[union-attr]
             for e in bundle.entries for field in ("mandatory", "isDefault") if field in e.data["spec"]}
    assert found == {("Nordic Saver", 17, "yes"), ("Nordic Youth Saver", 24, "NO"), ("Nordic Home", 30, "on")}


# ---------------------------------------------------------------------------- H04 aliases and nesting

@needs_cases
def test_h04_bomb_is_refused_at_an_alias_line() -> None:
    err = error_of(str(CASES / "H04-alias-bomb" / "bomb.yaml"))
    location = err.issues[0].location
    assert location is not None and location.file.endswith("bomb.yaml") and 16 <= (location.line or 0) <= 24
    assert "alias expansion limit exceeded" in str(err)
    assert "(limit 1000000 nodes / 50000000 bytes)" in str(err)


@needs_cases
def test_h04_ordinary_anchors_expand() -> None:
    bundle = read_bundle(str(CASES / "H04-alias-bomb" / "ok-anchors.yaml"))
    assert [e.data["metadata"]["labels"] for e in bundle.entries] == [{"team": "cards", "costCenter": "0042"}] * 3
    schedules = [e.data["spec"].get("schedule") for e in bundle.entries[1:]]
    assert schedules == [{"startDate": "2026-01-01", "endDate": "2026-06-30"}] * 2


def test_ten_thousand_aliases_of_a_label_map_pass() -> None:
    items = "".join(f"  - {{kind: Offer, metadata: {{name: o{i}, labels: *common}}}}\n" for i in range(10_000))
    text = "resources:\n  - {kind: Offer, metadata: {name: first, labels: &common {team: x, cc: '0042'}}}\n" + items
    bundle = read_bundle_text(text)
    assert len(bundle.entries) == 10_001 and bundle.entries[-1].data["metadata"]["labels"]["cc"] == "0042"


def test_aliases_after_json_like_keys_are_budgeted_too() -> None:
    refs = ", ".join(['"c":*b'] * 800)  # 800 x 64 KiB = 52 MB once expanded
    text = '{"resources": [], "manifest": {"blob":&b ' + "x" * 65536 + ", \"copies\": [{" + refs + "}]}}"
    err = text_error(text, filename="flow.yaml", syntax="yaml")
    assert "alias expansion limit exceeded" in str(err) and str(err).startswith("flow.yaml:1:")


WIDE = """\
import sys
blob = "x" * 65536
refs = ", ".join(["*blob"] * 100000)
open(sys.argv[1], "w").write("resources:\\n  - kind: Offer\\n    spec:\\n"
    f"      metadata: {{blob: &blob {blob}, copies: [{refs}]}}\\n")
"""

PROBE = """\
import json, resource, sys, time
start = time.perf_counter()
from decisionform.bundle.source import read_bundle
from decisionform.errors import ParseError
try:
    read_bundle(sys.argv[1]); message = "loaded"
except ParseError as exc:
    message = str(exc)
usage = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would report the (forked) pytest
# parent's size, not this process's peak.
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")]
rss_kb = int(hwm[0]) if hwm else usage.ru_maxrss
print(json.dumps({"message": message, "seconds": time.perf_counter() - start,
                  "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": rss_kb / 1024}))
"""


def probe(path: Path) -> dict[str, object]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr  # a crash (segfault, MemoryError) fails here
    result: dict[str, object] = json.loads(done.stdout)
    result["wall"] = time.perf_counter() - started
    return result


@needs_cases
def test_h04_bomb_bounds_in_a_process() -> None:
    result = probe(CASES / "H04-alias-bomb" / "bomb.yaml")
    assert "alias expansion limit exceeded" in str(result["message"])
    # CPU time, not wall time: the bound is about work done, and holds on a loaded machine.
    assert float(result["cpu"]) < 2 and float(result["rss_mb"]) < 200  # type: ignore[arg-type]


def test_h04_wide_bounds_in_a_process(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", WIDE, str(tmp_path / "wide.yaml")], check=True)
    result = probe(tmp_path / "wide.yaml")
    assert "alias expansion limit exceeded" in str(result["message"]) and "wide.yaml:4:" in str(result["message"])
    assert float(result["cpu"]) < 5 and float(result["rss_mb"]) < 300  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "text"), [
    ("deep.json", '{"manifest": {"apiVersion": "decisionform/v1"}, "resources": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("deep.yaml", "resources: " + "[" * 100_000 + "]" * 100_000 + "\n"),
    ("deep-block.yaml", "resources:\n" + "- " * 100_000 + "x\n"),  # segfaults yaml-rs unless refused first
    ("deep-indent.yaml", "resources:\n" + "".join(" " * i + "- k:\n" for i in range(0, 1200, 2))),
    ("deep-300.json", '{"resources": ' + "[" * 300 + "]" * 300 + "}"),
    ("deep-300.yaml", "resources:\n" + "- " * 300 + "x\n"),
])
def test_h04_deep_nesting_is_a_clean_error(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    result = probe(tmp_path / name)
    assert "document is nested too deeply (limit 200 levels)" in str(result["message"])
    assert name in str(result["message"]) and float(result["cpu"]) < 2  # type: ignore[arg-type]


def test_nesting_up_to_the_limit_is_fine() -> None:
    read_bundle_text('{"resources": ' + "[" * 199 + "]" * 199 + "}")  # the mapping and 199 lists: 200
    assert "nested too deeply" in str(text_error('{"resources": ' + "[" * 200 + "]" * 200 + "}"))


# ---------------------------------------------------------------------------- H09 empty and wrong top level

@needs_cases
@pytest.mark.parametrize(("name", "expected"), [
    ("empty.yaml", "empty.yaml is empty: a bundle needs a `resources` list"),
    ("comments-only.yaml", "comments-only.yaml is empty: a bundle needs a `resources` list"),
    ("empty-map.yaml", "empty-map.yaml:1:1: `resources` is missing"),
    ("manifest-only.yaml", "manifest-only.yaml:2:1: `resources` is missing"),
    ("null-resources.yaml", "null-resources.yaml:5:1: `resources` must be a list (found null)"),
    ("typo-key.yaml", "typo-key.yaml:5:1: unknown top-level key `resource`; did you mean `resources`?"),
])
def test_h09_accidentally_empty_inputs(name: str, expected: str) -> None:
    assert expected in str(error_of(str(CASES / "H09-empty-bundle-prune" / name)))


@needs_cases
def test_h09_explicit_empty_is_valid() -> None:
    bundle = read_bundle(str(CASES / "H09-empty-bundle-prune" / "explicit-empty.yaml"))
    assert bundle.entries == [] and bundle.manifest == {"apiVersion": "decisionform/v1", "tenant": "acme"}


def test_h09_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("empty-dir").mkdir()
    assert str(error_of("empty-dir")) == "empty-dir holds no resource file (*.yaml, *.yml or *.json)"
    assert str(error_of("no-such-dir/")) == "no such file or directory: no-such-dir/"
    Path("only-manifest").mkdir()
    Path("only-manifest/manifest.yaml").write_text("manifest: {apiVersion: decisionform/v1}\n")
    assert "only-manifest holds no resource file" in str(error_of("only-manifest"))
    Path("only-manifest/offers").mkdir()
    Path("only-manifest/offers/gold.yaml").write_text("# emptied by a bad merge\n")
    assert "only-manifest/offers/gold.yaml is empty" in str(error_of("only-manifest"))


@pytest.mark.parametrize(("text", "expected"), [
    ("{}", "<request body>:1:1: `resources` is missing"),
    ("- kind: Offer\n", "not a list; to give a list of resources, put it under `resources:`"),
    ("just a string\n", "the top level must be a mapping with a `resources` list, not a string"),
    ("resources: {}\n", "`resources` must be a list (found a mapping)"),
    ("resources: []\nextra: 1\n", "unknown top-level key `extra` (allowed: manifest, resources)"),
    ("resources: []\nmanifest: [1]\n", "`manifest` must be a mapping (found a list)"),
    ("manifest: {a: 1}\nresources: []\n---\nmanifest: {a: 2}\n", "a second, different `manifest`"),
    ("---\n---\n", "<request body> is empty"),
    ("   \n\n", "<request body> is empty"),
])
def test_wrong_top_level(text: str, expected: str) -> None:
    assert expected in str(text_error(text))


def test_json_body_of_an_empty_object() -> None:
    assert "`resources` is missing" in str(text_error(b"{}", syntax="json"))


# ---------------------------------------------------------------------------- robustness

VALID = [BUNDLE, json.dumps({"resources": [{"kind": "Offer", "spec": {"a": [1, 2]}}]}),
         "resources:\n  - &a {kind: Offer}\n  - *a\n---\nkind: Channel\n"]


def assert_only_parse_error(data: str | bytes) -> None:
    started = time.perf_counter()
    try:
        read_bundle_text(data)
    except ParseError as exc:
        assert str(exc)
    assert time.perf_counter() - started < 2


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_random_input_gives_parse_error_or_success(data: str | bytes) -> None:
    assert_only_parse_error(data)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 5))
        insert = draw(st.sampled_from(["", "*a", "&a ", "[", "]", "{", "}", ":", "- ", "\n", "  ", "\t",
                                       "'", '"', "#", "---\n", "!!", "\x00", "\ud800", "é", ",", "?"]))
        text = text[:at] + insert + text[at + cut:]
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_bundles_give_parse_error_or_success(text: str) -> None:
    assert_only_parse_error(text)
    assert_only_parse_error(text.encode("utf-8", "surrogatepass"))
