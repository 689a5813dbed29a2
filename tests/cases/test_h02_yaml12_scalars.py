"""H02 yaml11-booleans-norway: YAML 1.2 scalars, strict booleans, exports a YAML 1.1 reader reads back.

The case's steps 1-7 (CLI), then the same fault with other YAML 1.1 words (on/off/yes/y/n
in every case, 12:30, dates) in labels, tags, keys, free-form content, rule values,
placements and scopes, and with every boolean field of the kinds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from nothing_written import assert_nothing_written, fails, snapshot

from support import CliEnv, case_file

CASE = "H02-yaml11-booleans-norway"
NORDIC = ["SE", "NO", "DK", "FI", "IS"]
BODY_KEYS = {"no", "sv", "da", "fi", "en"}


def copy_case(cli: CliEnv) -> None:
    shutil.copytree(case_file(CASE, "."), cli.cwd, dirs_exist_ok=True)


def creates(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["name"]): d["after"] for d in doc["diffs"] if d["op"] == "create"}


def resources(exported: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["kind"], r["metadata"]["name"]): r for r in exported["resources"]}


def assert_nordic_values(found: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Step 2's values, on plan `after`s or exported resources (both resource-shaped)."""
    offer = found[("Offer", "Nordic Saver")]
    assert offer["metadata"]["labels"] == {"country": "NO", "lang": "no"}
    assert offer["spec"]["tags"] == NORDIC
    assert offer["spec"]["mandatory"] is False
    content = found[("Creative", "Nordic Saver - SMS")]["spec"]["content"]
    assert content["defaultLocale"] == "no"
    assert set(content["body"]) == BODY_KEYS
    assert content["body"]["no"] == "Spar smartere med Nordic Saver."
    assert found[("QualificationRule", "Nordic Residents")]["spec"]["config"]["value"] == NORDIC
    assert found[("DecisionFlow", "Nordic Home")]["spec"]["isDefault"] is True


def test_h02_case_steps(cli: CliEnv) -> None:
    copy_case(cli)
    # 1. validate
    assert cli.ok("validate", "bundle.yaml").out.strip() == "bundle.yaml: valid (6 resources)."
    # 2. plan --out --format json
    planned = cli.ok("plan", "bundle.yaml", "--out", "plan.out", "--format", "json").json()
    assert planned["summary"] == {"created": 6, "updated": 0, "deleted": 0, "unchanged": 0}
    after = creates(planned)
    assert len(after) == 6
    assert_nordic_values(after)
    offer_text = json.dumps(after[("Offer", "Nordic Saver")])
    assert offer_text.count("false") == 1 and "true" not in offer_text  # only `mandatory: false` is a boolean
    assert "false" not in json.dumps(after[("Creative", "Nordic Saver - SMS")])
    assert "false" not in json.dumps(after[("QualificationRule", "Nordic Residents")]["spec"]["config"])
    # 3. apply the plan; export shows the same strings, tags in order
    cli.ok("apply", "plan.out")
    exported = cli.ok("export", "--format", "json")
    assert_nordic_values(resources(exported.json()))
    assert '"NO"' in exported.out and '"no"' in exported.out
    # 4. the quoted bundle is the same values
    quoted = cli.run("plan", "bundle-quoted.yaml", "--format", "json", "--detailed-exitcode")
    assert quoted.code == 0, quoted
    assert quoted.json()["summary"] == {"created": 0, "updated": 0, "deleted": 0, "unchanged": 6}
    # 5. a YAML 1.1 reader reads the YAML export back as strings; planning it changes nothing
    cli.ok("export", "--format", "yaml", "--out", "out.yaml")
    text = (cli.cwd / "out.yaml").read_text()
    read_11 = yaml.safe_load(text)
    assert_nordic_values(resources(read_11))
    assert read_11["resources"] == exported.json()["resources"]
    assert cli.run("plan", "out.yaml", "--detailed-exitcode").code == 0
    # 6. boolean fields given YAML 1.1 words: three located errors in one run
    expected = [('Offer "Nordic Saver".spec.mandatory', "bundle-bool-words.yaml:17", "'yes'"),
                ('Offer "Nordic Youth Saver".spec.mandatory', "bundle-bool-words.yaml:24", "'NO'"),
                ('DecisionFlow "Nordic Home".spec.isDefault', "bundle-bool-words.yaml:30", "'on'")]
    first = fails(cli, "validate", "bundle-bool-words.yaml")
    assert_each_on_its_line(first.err, expected, "true or false")
    # 7. plan: the same errors, nothing written
    before = snapshot(cli)
    second = fails(cli, "plan", "bundle-bool-words.yaml", "--out", "bad.out")
    assert_nothing_written(cli, before)
    assert not (cli.cwd / "bad.out").exists()
    assert_each_on_its_line(second.err, expected, "true or false")


def assert_each_on_its_line(err: str, expected: list[tuple[str, ...]], *words: str) -> None:
    """Every expected (subject, file:line, ...) appears together on one line of ``err``."""
    lines = err.splitlines()
    for parts in expected:
        matching = [line for line in lines if all(f"{p}" in line for p in parts)]
        assert len(matching) == 1, (parts, err)
        lower = matching[0].lower()
        assert all(word.lower() in lower for word in words), (matching[0], words)
    assert f"{len(expected)} errors" in err or len(expected) == 1, err


# ---------------------------------------------------------------- the same fault, other words

WORDS_BUNDLE = """\
manifest: {apiVersion: decisionform/v1, tenant: acme}
resources:
  - apiVersion: decisionform/v1
    kind: Category
    metadata:
      name: Savings
      labels: {on: yes, off: no, y: n, Y: N, NO: Off}
    spec: {description: on, status: active}
  - apiVersion: decisionform/v1
    kind: Offer
    metadata:
      name: Saver
      labels: {a: yes, b: No, c: ON, d: off, e: y, f: n, g: 12:30, h: 2026-01-01, i: Yes, j: OFF}
    spec:
      category: Savings
      productType: no
      shortDesc: off
      tags: [yes, no, on, off, y, n, Y, N, YES, Off, 12:30, 2026-01-01, "0042"]
      metadata: {yes: on, no: off, y: [n, N], when: 12:30, day: 2026-01-01, octal: 010}
      eligibility: {country: NO, optIn: yes}
  - apiVersion: decisionform/v1
    kind: Channel
    metadata: {name: Push}
    spec:
      channelType: push
      providerConfig: {region: NO, sandbox: off}
      placements: [{name: on, slotType: banner, maxSlots: 1, targeting: {locale: no}}]
  - apiVersion: decisionform/v1
    kind: Creative
    metadata: {name: Saver Push}
    spec:
      offer: Saver
      channel: Push
      placement: on
      templateType: push_notification
      content: {on: yes, no: No, Y: y, off: [off, ON]}
      personalization: [{variable: country, source: profile, fallback: NO}]
      abTestVariant: off
  - apiVersion: decisionform/v1
    kind: QualificationRule
    metadata: {name: Opted In}
    spec:
      ruleType: attribute_condition
      config: {attribute: optIn, operator: eq, value: yes}
      scopes: [{scope: segment, target: no}, {scope: placement, target: Push/on}]
  - apiVersion: decisionform/v1
    kind: ContactPolicy
    metadata: {name: Quiet}
    spec:
      ruleType: segment_exclusion
      config: {excludeSegments: [NO, off, y]}
  - {kind: Category, metadata: {name: Off}}
  - {kind: Offer, metadata: {name: Y}, spec: {category: Off, tags: [on]}}
"""


def assert_words_are_strings(found: dict[tuple[str, str], dict[str, Any]]) -> None:
    category = found[("Category", "Savings")]
    assert category["metadata"]["labels"] == {"on": "yes", "off": "no", "y": "n", "Y": "N", "NO": "Off"}
    assert category["spec"]["description"] == "on"
    offer = found[("Offer", "Saver")]
    assert offer["metadata"]["labels"] == {"a": "yes", "b": "No", "c": "ON", "d": "off", "e": "y", "f": "n",
                                           "g": "12:30", "h": "2026-01-01", "i": "Yes", "j": "OFF"}
    spec = offer["spec"]
    assert (spec["productType"], spec["shortDesc"]) == ("no", "off")
    assert spec["tags"] == ["yes", "no", "on", "off", "y", "n", "Y", "N", "YES", "Off", "12:30", "2026-01-01",
                            "0042"]
    # YAML 1.2: 010 is ten (not octal eight), 12:30 and dates are strings
    assert spec["metadata"] == {"yes": "on", "no": "off", "y": ["n", "N"], "when": "12:30", "day": "2026-01-01",
                                "octal": 10}
    assert spec["eligibility"] == {"country": "NO", "optIn": "yes"}
    channel = found[("Channel", "Push")]["spec"]
    assert channel["placements"][0]["name"] == "on" and channel["placements"][0]["targeting"] == {"locale": "no"}
    assert channel["providerConfig"] == {"region": "NO", "sandbox": "off"}
    creative = found[("Creative", "Saver Push")]["spec"]
    assert creative["placement"] == "on" and creative["abTestVariant"] == "off"
    assert creative["content"] == {"on": "yes", "no": "No", "Y": "y", "off": ["off", "ON"]}
    assert creative["personalization"][0]["fallback"] == "NO"
    rule = found[("QualificationRule", "Opted In")]["spec"]
    assert rule["config"]["value"] == "yes"
    assert rule["scopes"] == [{"scope": "segment", "target": "no"}, {"scope": "placement", "target": "Push/on"}]
    assert found[("ContactPolicy", "Quiet")]["spec"]["config"]["excludeSegments"] == ["NO", "off", "y"]
    # names, and references to them, are strings too
    assert found[("Offer", "Y")]["spec"]["category"] == "Off" and found[("Offer", "Y")]["spec"]["tags"] == ["on"]
    assert ("Category", "Off") in found


def test_yaml11_words_stay_strings_in_every_position(cli: CliEnv) -> None:
    (cli.cwd / "words.yaml").write_text(WORDS_BUNDLE)
    cli.ok("validate", "words.yaml")
    planned = cli.ok("plan", "words.yaml", "--format", "json").json()
    assert planned["summary"] == {"created": 8, "updated": 0, "deleted": 0, "unchanged": 0}
    assert_words_are_strings(creates(planned))
    cli.ok("apply", "words.yaml", "--auto-approve")
    exported = cli.export()
    assert_words_are_strings(resources(exported))
    # YAML export: a YAML 1.1 reader (PyYAML) and we read the same values; re-plans are no-ops
    cli.ok("export", "--out", "out.yaml")
    assert yaml.safe_load((cli.cwd / "out.yaml").read_text())["resources"] == exported["resources"]
    assert cli.run("plan", "out.yaml", "--detailed-exitcode").code == 0
    # the files layout too: every file reads the same under YAML 1.1
    cli.ok("export", "--layout", "files", "--out", "tree")
    files = sorted(p for p in (cli.cwd / "tree").rglob("*.yaml") if p.name != "manifest.yaml")
    assert len(files) == 8
    from_files = [yaml.safe_load(p.read_text()) for p in files]
    assert sorted(from_files, key=json.dumps) == sorted(exported["resources"], key=json.dumps)
    assert cli.run("plan", "tree", "--detailed-exitcode").code == 0
    assert cli.run("plan", "words.yaml", "--detailed-exitcode").code == 0
    assert cli.run("plan", "words.yaml", "--target", "Offer.Y", "--detailed-exitcode").code == 0


BOOL_WORDS = """\
manifest: {apiVersion: decisionform/v1, tenant: acme}
resources:
  - apiVersion: decisionform/v1
    kind: Category
    metadata: {name: Savings}
    spec:
      customFields:
        - {key: region, label: Region, type: text, required: Yes}
  - apiVersion: decisionform/v1
    kind: Offer
    metadata: {name: Quoted}
    spec: {category: Savings, mandatory: "true"}
  - apiVersion: decisionform/v1
    kind: Offer
    metadata: {name: Number}
    spec: {category: Savings, mandatory: 1}
  - apiVersion: decisionform/v1
    kind: Offer
    metadata: {name: Letter}
    spec: {category: Savings, mandatory: y}
  - apiVersion: decisionform/v1
    kind: DecisionFlow
    metadata: {name: Flow}
    spec:
      key: flow
      autoAssembly: off
      isDefault: Y
      nodes:
        - {id: m, type: match_creatives, phase: 2, config: {requireCreative: No}}
        - {id: out, type: response, phase: 3, config: {}}
"""


def test_every_boolean_field_refuses_other_words_in_one_run(cli: CliEnv) -> None:
    (cli.cwd / "bools.yaml").write_text(BOOL_WORDS)
    cli.ok("apply", case_file(CASE, "bundle.yaml"), "--auto-approve")
    expected = [('Category "Savings".spec.customFields[0].required', "bools.yaml:8:", "'Yes'"),
                ('Offer "Quoted".spec.mandatory', "bools.yaml:12:", "'true'"),
                ('Offer "Number".spec.mandatory', "bools.yaml:16:", "(got 1)"),
                ('Offer "Letter".spec.mandatory', "bools.yaml:20:", "'y'"),
                ('DecisionFlow "Flow".spec.autoAssembly', "bools.yaml:26:", "'off'"),
                ('DecisionFlow "Flow".spec.isDefault', "bools.yaml:27:", "'Y'"),
                # a node's config is checked in the same run as the flow's own fields
                ('DecisionFlow "Flow".spec.nodes[0].config.requireCreative', "bools.yaml:29:", "'No'")]
    assert_each_on_its_line(fails(cli, "validate", "bools.yaml").err, expected, "true or false")
    before = snapshot(cli)
    assert_each_on_its_line(fails(cli, "plan", "bools.yaml").err, expected, "true or false")
    assert_each_on_its_line(fails(cli, "apply", "bools.yaml", "--auto-approve").err, expected, "true or false")
    assert_nothing_written(cli, before)


def test_boolean_words_in_json_and_null_labels_are_located_errors(cli: CliEnv) -> None:
    Path(cli.cwd / "b.json").write_text(
        '{"resources": [\n'
        ' {"kind": "Category", "metadata": {"name": "Savings"}},\n'
        ' {"kind": "Offer", "metadata": {"name": "X"},\n'
        '  "spec": {"category": "Savings", "mandatory": "no"}}]}\n')
    err = fails(cli, "validate", "b.json").err
    assert_each_on_its_line(err, [('Offer "X".spec.mandatory', "b.json:4:", "'no'")], "true or false")
    # `~` is null in YAML 1.2 as in 1.1: a label must then be quoted, never silently "~" or dropped
    (cli.cwd / "null-label.yaml").write_text(
        "resources:\n"
        "  - kind: Category\n"
        "    metadata: {name: Savings, labels: {owner: ~, lang: no}}\n")
    err = fails(cli, "validate", "null-label.yaml").err
    assert_each_on_its_line(err, [('Category "Savings".metadata.labels.owner', "null-label.yaml:3:")],
                            "must be a string", "null")
