"""Names: any text of 1-255 characters (after NFC normalisation) names a resource.

For each accepted name, a bundle of all nine kinds all named by it (and every reference by
it: category, sub-category, channel/placement, offer, scopes, policy config, flow nodes)
round-trips through YAML, JSON and the files layout (which never writes outside its folder),
and through apply -> export -> plan = zero changes on SQLite and PostgreSQL, with the same
expected names on both. Rejected names (256 characters, controls, NUL, lone surrogates, empty)
give a located error; two names equal after NFC are a duplicate.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from bundles import CI, HEAVY, NAME_CHARS, TRICKY_NAMES, nfc, stress_only
from hypothesis import given, settings
from hypothesis import strategies as st

from decisionform.bundle.dump import dump_json, dump_yaml, files_layout, write_files_layout
from decisionform.bundle.kinds import KINDS
from decisionform.bundle.load import load_bundle, load_bundle_text
from decisionform.errors import BundleError, ParseError, SchemaError
from support import CliEnv

FOLDERS = {k.name: k.folder for k in KINDS}
ALL_KINDS = [k.name for k in KINDS]
SLUG_FILE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*\.yaml")

ACCEPTED = [
    "Gold Card", "with  two  spaces", " leading", "trailing ", "a/b", "a/b/c", "/", "//", "/abs/path", "..", ".",
    "../../etc/passwd", "..\\..\\windows", ".hidden", "..hidden", "back\\slash", "C:\\Windows\\system32", "CON",
    "nul", "aux.txt", "LPT1", "manifest", "manifest.yaml", "resources", "x" * 255, "😀" * 255,
    "x" * 254 + "e\u0301",  # 256 code points, 255 after NFC: one name after normalisation
    "שלום עולם", "مرحبا بالعالم", "abc\u202eevil\u202c", "\u200fRTL mark", "😀🎉", "👩\u200d👩\u200d👧",
    "🇳🇴", "Café", "Cafe\u0301", "Zalgo: Z\u0351\u036b\u0343\u036a\u0302\u036b", "e\u0301\u0302\u0303",
    "日本語の名前", "Ｆｕｌｌｗｉｄｔｈ", "\u00a0nbsp\u00a0", "zero\u200bwidth", "\ufeffbom inside", "x\u2028y",
    "x\u2029y", "NO", "no", "on", "y", "true", "null", "~", "010", "0x1F", "1e3", "12:30", "2026-01-01", "- x",
    "a: b", "#comment", "&anchor", "*alias", "!tag", "%directive", "@at", "`tick", "'single", '"double',
    "{flow}", "[list]", "|", ">", "?", "<<", "${env:NAME}", "%2e%2e%2f", "\U0010ffff", "\ue000",
]
REJECTED = [  # (name, what the message says) - control characters, NUL, too long, nothing, lone surrogates
    ("x" * 256, "at most 255"), ("😀" * 256, "at most 255"), ("\u0958" * 128, "at most 255"),  # 256 after NFC
    ("", "empty"), ("a\x00b", "control"), ("\x00", "control"), ("tab\there", "control"), ("new\nline", "control"),
    ("cr\rhere", "control"), ("esc\x1b[31m", "control"), ("del\x7f", "control"), ("\x01", "control"),
    ("unit\x1fsep", "control"), ("\ud800", "surrogate"), ("a\udfffb", "surrogate"),
]
C1_CONTROLS = ["next\x85line", "csi\x9b31m", "\x80", "pad\x9f"]


# ------------------------------------------------------------------ one bundle of all nine kinds named N
def all_kinds(name: str, tag: str = "") -> dict[str, Any]:
    """Every kind named ``name``, every reference naming it; plus a flow "caller" calling flow ``name``.

    ``tag`` makes the unique keys and the caller's name distinct, so that several of these
    bundles can share one tenant."""
    def res(kind: str, spec: dict[str, Any], rname: str = name) -> dict[str, Any]:
        return {"apiVersion": "decisionform/v1", "kind": kind, "metadata": {"name": rname, "labels": {name: name}},
                "spec": spec}

    # A placement name is limited to 255 code points as written (not after NFC, unlike resource names).
    short = name if len(name) <= 255 else nfc(name)
    placement = f"{name}/{short}"
    scopes = [{"scope": "placement", "target": placement}, {"scope": "channel", "target": name},
              {"scope": "category", "target": name}, {"scope": "subcategory", "target": name},
              {"scope": "offer", "target": name}, {"scope": "creative", "target": name}]
    return {"manifest": {"apiVersion": "decisionform/v1", "tenant": name}, "resources": [
        res("Category", {"customFields": [{"key": name, "type": "text"}]}),
        res("SubCategory", {"category": name}),
        res("Channel", {"channelType": "email", "placements": [{"name": short}]}),
        res("Offer", {"category": name, "subCategory": name, "customFields": {name: name}, "tags": [name]}),
        res("Creative", {"offer": name, "channel": name, "placement": short, "templateType": "email_html"}),
        res("QualificationRule", {"ruleType": "recency_check", "config": {"minDaysSinceLastImpression": 1},
                                  "scopes": scopes}),
        res("ContactPolicy", {"ruleType": "mutual_exclusion", "config": {"excludeOffers": [name]},
                              "scopes": scopes}),
        res("ArbitrationProfile", {"key": f"profile{tag}", "weights": {name: 0.5}}),
        res("DecisionFlow", {"key": f"flow{tag}", "nodes": [
            {"id": name, "type": "inventory", "config": {"categories": [name], "subCategories": [name],
                                                          "offers": [name]}},
            {"id": "q", "type": "qualify", "config": {"mode": "selected", "rules": [name]}},
            {"id": "c", "type": "contact_policy", "config": {"mode": "selected", "policies": [name]}},
            {"id": "s", "type": "score", "config": {"strategyProfile": name,
                                                    "strategyOverrides": [{"scope": "channel", "value": name,
                                                                           "profile": name}]}},
            {"id": "o", "type": "optimize", "config": {"profile": name}}]}),
        res("DecisionFlow", {"key": f"caller{tag}", "nodes": [{"id": "call", "type": "call_flow",
                                                               "config": {"flow": name}}]}, rname=f"caller{tag}"),
    ]}


def expected_addresses(name: str, tag: str = "") -> set[tuple[str, str]]:
    """What any export of ``all_kinds(name, tag)`` must hold, worked out from the name alone."""
    return {(kind, nfc(name)) for kind in ALL_KINDS} | {("DecisionFlow", f"caller{tag}")}


def expected_references(name: str) -> dict[str, Any]:
    """The reference values of ``all_kinds(name)`` as an export must show them (NFC)."""
    n = nfc(name)
    return {"SubCategory": {"category": n}, "Offer": {"category": n, "subCategory": n},
            "Creative": {"offer": n, "channel": n, "placement": n}}


def canonical(bundle: Any) -> list[tuple[str, str, Any, Any]]:
    return sorted(((r.kind, r.name, r.spec, r.labels) for r in bundle.resources), key=lambda t: (t[0], t[1]))


def check_files_layout(files: dict[str, str], out: Path) -> None:
    """Every path is ``<kind folder>/<slug>.yaml`` (or the manifest) and lands inside ``out``."""
    for path in files:
        if path != "manifest.yaml":
            folder, _, stem = path.partition("/")
            assert folder in FOLDERS.values() and SLUG_FILE.fullmatch(stem), path
    write_files_layout(files, out)
    written = [p for p in out.parent.rglob("*") if p.is_file()]
    assert len(written) == len(files)
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written)


def unique_by_nfc(names: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(nfc(name), name)
    return list(seen.values())


# ------------------------------------------------------------------ the loader: accepted and rejected
def test_the_name_lists_mean_what_they_say() -> None:
    assert all(1 <= len(nfc(n)) <= 255 for n in ACCEPTED) and len(ACCEPTED) >= 75
    assert len(nfc("x" * 254 + "e\u0301")) == 255 and len("x" * 254 + "e\u0301") == 256
    assert len(nfc("\u0958" * 128)) == 256  # a composition exclusion: NFC makes it longer
    assert all(unicodedata.category(c) == "Cc" for n in C1_CONTROLS for c in n if ord(c) >= 0x80)


@pytest.mark.parametrize("name", ACCEPTED, ids=[ascii(n)[:40] for n in ACCEPTED])
def test_accepted_names_round_trip_through_every_layout(name: str, tmp_path: Path) -> None:
    doc = all_kinds(name)
    reference = load_bundle_text(json.dumps(doc, ensure_ascii=False), syntax="json")
    assert {(r.kind, r.name) for r in reference.resources} == expected_addresses(name)
    assert canonical(load_bundle_text(dump_yaml(doc), syntax="yaml")) == canonical(reference)
    assert canonical(load_bundle_text(dump_json(doc), syntax="json")) == canonical(reference)
    files = files_layout(doc["manifest"], doc["resources"], FOLDERS)
    out = tmp_path / "out"
    check_files_layout(files, out)
    assert canonical(load_bundle(out)) == canonical(reference)


@pytest.mark.parametrize(("name", "why"), REJECTED, ids=[ascii(n)[:30] for n, _ in REJECTED])
@pytest.mark.parametrize("syntax", ["json", "yaml"])
def test_rejected_names_give_a_located_error(name: str, why: str, syntax: str) -> None:
    # Written with escapes (\u0000, \t, \ud800), so the text itself is valid: only the name is wrong.
    escaped = json.dumps(name)[1:-1]
    text = {"yaml": ("resources:\n- kind: Category\n  metadata: {name: fine}\n"
                     f'- kind: Offer\n  metadata: {{name: "{escaped}"}}\n  spec: {{category: fine}}\n'),
            "json": ('{"resources": [\n {"kind": "Category", "metadata": {"name": "fine"}},\n'
                     f' {{"kind": "Offer", "metadata": {{"name": "{escaped}"}}, "spec": {{"category": "fine"}}}}]}}\n')}
    with pytest.raises(BundleError) as caught:  # YAML itself refuses a surrogate escape: a ParseError
        load_bundle_text(text[syntax], filename="names.bundle", syntax=syntax)
    issues = caught.value.issues
    for issue in issues:  # a NUL is reported twice: a control character, and unstorable text
        assert issue.location is not None and issue.location.file == "names.bundle"
        assert issue.location.line == (5 if syntax == "yaml" else 3)  # the line of the name
    if syntax == "yaml" and why == "surrogate":
        assert isinstance(caught.value, ParseError) and "surrogate" in issues[0].message
    else:
        assert isinstance(caught.value, SchemaError)
        assert any(why in i.message and i.path == "metadata.name" for i in issues), issues


@pytest.mark.parametrize("name", C1_CONTROLS, ids=[ascii(n) for n in C1_CONTROLS])
def test_c1_control_characters_are_rejected_like_c0(name: str) -> None:
    with pytest.raises(SchemaError) as caught:
        load_bundle_text(json.dumps({"resources": [{"kind": "Category", "metadata": {"name": name}}]}))
    assert "control" in caught.value.issues[0].message


def test_two_names_equal_after_nfc_are_a_duplicate() -> None:
    composed, decomposed = "Caf\u00e9 Cards", "Cafe\u0301 Cards"
    text = (f'resources:\n- kind: Category\n  metadata: {{name: "{composed}"}}\n'
            f'- kind: Category\n  metadata: {{name: "{decomposed}"}}\n')
    with pytest.raises(SchemaError) as caught:
        load_bundle_text(text, filename="dup.yaml")
    (issue,) = caught.value.issues
    assert issue.resource == f'Category "{composed}"'
    assert issue.location is not None and (issue.location.line, issue.location.column) == (4, 3)
    assert "duplicate" in issue.message and "dup.yaml:2:3" in issue.message  # names the first one too


def test_the_same_name_in_two_kinds_is_not_a_duplicate() -> None:
    assert len(load_bundle_text(json.dumps(all_kinds("Same"))).resources) == len(ALL_KINDS) + 1


@settings(CI, max_examples=150)
@given(name=st.text(NAME_CHARS, min_size=1, max_size=255).filter(lambda n: n.strip() and len(nfc(n)) <= 255))
def test_random_names_round_trip_through_every_layout(name: str) -> None:
    doc = all_kinds(name)
    reference = canonical(load_bundle_text(json.dumps(doc, ensure_ascii=False), syntax="json"))
    assert {(kind, n) for kind, n, *_ in reference} == expected_addresses(name)
    assert canonical(load_bundle_text(dump_yaml(doc), syntax="yaml")) == reference
    assert canonical(load_bundle_text(dump_json(doc), syntax="json")) == reference
    files = files_layout(doc["manifest"], doc["resources"], FOLDERS)
    assert all(p == "manifest.yaml" or SLUG_FILE.fullmatch(p.partition("/")[2]) for p in files)


# ------------------------------------------------------------------ the databases
GROUP = 6  # names per tenant: one apply, three exports and three plans serve six names


def check_group_in_database(cli: CliEnv, group: list[str], tmp: Path) -> None:
    """``all_kinds`` of every name of ``group`` in one tenant: apply, plan, export x3, plan each export."""
    tags = [f"-{i}" for i in range(len(group))]  # keys are [a-z0-9_-]
    docs = [all_kinds(name, tag) for name, tag in zip(group, tags, strict=True)]
    bundle = tmp / "bundle.json"
    bundle.write_text(json.dumps({"resources": [r for d in docs for r in d["resources"]]}, ensure_ascii=False),
                      encoding="utf-8")
    applied = cli.ok("apply", bundle, "--auto-approve", "--format", "json").json()
    assert applied["summary"]["created"] == len(group) * (len(ALL_KINDS) + 1)
    assert cli.run("plan", bundle, "--detailed-exitcode").code == 0
    exported = cli.export()
    found = {(r["kind"], r["metadata"]["name"]) for r in exported["resources"]}
    assert found == set().union(*(expected_addresses(n, t) for n, t in zip(group, tags, strict=True)))
    for name in group:
        by_kind = {r["kind"]: r for r in exported["resources"] if r["metadata"]["name"] == nfc(name)}
        for kind, refs in expected_references(name).items():
            assert {k: by_kind[kind]["spec"][k] for k in refs} == refs, name
        targets = {s["scope"]: s["target"] for s in by_kind["QualificationRule"]["spec"]["scopes"]}
        assert targets["creative"] == nfc(name) and targets["placement"].startswith(f"{nfc(name)}/"), name
        assert by_kind["Offer"]["metadata"]["labels"] == {name: name}, name  # labels are kept as written
    yaml_export = tmp / "export.yaml"
    yaml_export.write_text(cli.ok("export").out, encoding="utf-8")
    out = tmp / "files" / "export"
    cli.ok("export", "--layout", "files", "--out", out)
    written = [p for p in (tmp / "files").rglob("*") if p.is_file()]
    assert len(written) == len(group) * (len(ALL_KINDS) + 1) + 1  # one file per resource, the manifest
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert all(p.name == "manifest.yaml" or SLUG_FILE.fullmatch(p.name) for p in written)
    for again in (yaml_export, out):
        plan = cli.run("plan", again, "--detailed-exitcode", "--format", "json")
        assert plan.code == 0, plan


def check_names_in_database(db_url: str, tmp_path: Path, names: list[str]) -> None:
    setup = CliEnv(url=db_url, tenant="setup", cwd=tmp_path)
    setup.ok("db", "upgrade")
    failures: dict[str, str] = {}
    unique = unique_by_nfc(names)
    for i in range(0, len(unique), GROUP):
        group = unique[i:i + GROUP]
        cli = CliEnv(url=db_url, tenant=f"names-{i}", cwd=tmp_path)
        cli.ok("tenant", "create", cli.tenant)
        tmp = tmp_path / f"group-{i}"
        tmp.mkdir()
        try:
            check_group_in_database(cli, group, tmp)
        except AssertionError as exc:
            failures[", ".join(ascii(n)[:30] for n in group)] = str(exc)[:600]
    assert not failures, failures


def test_accepted_names_converge_in_the_database(db_url: str, tmp_path: Path) -> None:
    check_names_in_database(db_url, tmp_path, ACCEPTED)


@pytest.mark.slow
@stress_only
@HEAVY
@given(names=st.lists(st.text(NAME_CHARS, min_size=1, max_size=255).filter(
    lambda n: n.strip() and len(nfc(n)) <= 255 and "/" not in n), min_size=1, max_size=5))
def test_random_names_converge_in_the_database_stress(db_url: str, tmp_path_factory: pytest.TempPathFactory,
                                                      names: list[str]) -> None:
    check_names_in_database(db_url, tmp_path_factory.mktemp("names"), names + TRICKY_NAMES[:3])


# ------------------------------------------------------------------ placement names holding "/"
def test_placement_names_with_a_slash_do_not_collide(cli: CliEnv, tmp_path: Path) -> None:
    bundle = tmp_path / "slashes.yaml"
    bundle.write_text(
        "resources:\n"
        "- {kind: Category, metadata: {name: c}}\n"
        "- {kind: Offer, metadata: {name: o}, spec: {category: c}}\n"
        "- {kind: Channel, metadata: {name: A}, spec: {channelType: email, placements: [{name: B/C}]}}\n"
        "- {kind: Channel, metadata: {name: A/B}, spec: {channelType: email, placements: [{name: C, maxSlots: 2}]}}\n"
        "- {kind: Creative, metadata: {name: x1}, spec: {offer: o, channel: A, placement: B/C, templateType: sms_text}}\n"
        "- {kind: Creative, metadata: {name: x2}, spec: {offer: o, channel: A/B, placement: C, templateType: sms_text}}\n",
        encoding="utf-8")
    cli.ok("validate", bundle)
    assert cli.summary("plan", bundle)["created"] == 6
    cli.ok("apply", bundle, "--auto-approve")
    exported = cli.exported()
    assert exported[("Creative", "x1")]["spec"]["placement"] == "B/C"
    assert exported[("Creative", "x2")]["spec"]["placement"] == "C"
    assert [p.get("maxSlots", 1) for p in exported[("Channel", "A/B")]["spec"]["placements"]] == [2]
    assert cli.run("plan", bundle, "--detailed-exitcode").code == 0
