"""H05 explicit-defaults-noop (CLI steps 1-7 and the state-file run), on SQLite and PostgreSQL.

A field left out and the same field written with its default or empty value (``false``,
``null``, ``[]``, ``{}``, the documented default number), in any key order and as an
integral float, must compare equal: planning either spelling after applying the other gives
zero changes, applying such a plan writes nothing (no version bump, no audit row, state
untouched), drift comes clean and the export is one canonical form. Beyond the handed
seven resources, every kind and its nested defaults (custom fields, placements, budgets,
rule configs by type, flow node configs by type) is covered, in both directions, in YAML
and JSON with reversed key order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from h_support import RawSql, assert_nothing_written, changes_of, snapshot, summary_of, write_json

from support import CliEnv, case_file

CASE = "H05-explicit-defaults-noop"
OMITTED = case_file(CASE, "omitted.yaml")
EXPLICIT = case_file(CASE, "explicit.yaml")
NO_DRIFT = {"changed": 0, "deleted": 0, "unmanaged": 0}
CHANGE_LINE = re.compile(r'^\s*[-+~] (Category|SubCategory|Channel|Offer|Creative|QualificationRule|ContactPolicy|'
                         r'ArbitrationProfile|DecisionFlow) "', re.MULTILINE)


def S(created: int = 0, updated: int = 0, deleted: int = 0, unchanged: int = 0) -> dict[str, int]:
    return {"created": created, "updated": updated, "deleted": deleted, "unchanged": unchanged}


def fresh(new_db_url: Any, cwd: Path) -> CliEnv:
    cwd.mkdir(parents=True, exist_ok=True)
    env = CliEnv(url=new_db_url(), tenant="acme", cwd=cwd)
    env.ok("db", "upgrade")
    env.ok("tenant", "create", "acme")
    return env


def assert_zero_change_plan(cli: CliEnv, bundle: Any, n: int, *state: str) -> None:
    """plan --format json --detailed-exitcode → 0, all unchanged; the text plan marks nothing."""
    planned = cli.run("plan", bundle, "--format", "json", "--detailed-exitcode", *state)
    assert planned.code == 0, planned
    assert summary_of(planned) == S(unchanged=n)
    assert changes_of(planned) == []
    text = cli.run("plan", bundle, *state)
    assert text.code == 0, text
    assert not CHANGE_LINE.search(text.out), text.out
    assert "0 to create, 0 to update, 0 to delete" in text.out


def assert_noop_apply(cli: CliEnv, sql: RawSql, bundle: Any, *state: str, state_file: str | None = None) -> None:
    """plan --out b.out; apply b.out (twice) writes nothing: rows' versions, audit rows, state, locks."""
    cli.ok("plan", bundle, "--out", "b.out", *state)
    for _ in range(2):
        before = snapshot(cli, sql, state_file)
        cli.ok("apply", "b.out", *state)
        assert_nothing_written(before, snapshot(cli, sql, state_file))


def assert_no_drift(cli: CliEnv, *state: str) -> None:
    drift = cli.run("refresh", "--format", "json", "--detailed-exitcode", *state)
    assert drift.code == 0, drift
    assert drift.json()["summary"] == NO_DRIFT


# ====================================================================== the handed steps
def steps_1_to_4(cli: CliEnv, *state: str) -> None:
    sql = RawSql(cli.url)
    state_file = state[1] if state else None
    planned = cli.ok("plan", OMITTED, "--out", "a.out", "--format", "json", *state)
    assert summary_of(planned) == S(created=7)
    cli.ok("apply", "a.out", *state)

    assert_zero_change_plan(cli, EXPLICIT, 7, *state)
    assert_noop_apply(cli, sql, EXPLICIT, *state, state_file=state_file)

    assert cli.run("plan", OMITTED, "--detailed-exitcode", *state).code == 0
    assert_no_drift(cli, *state)


def test_steps_1_to_7_on_two_databases(cli: CliEnv, new_db_url: Any, tmp_path: Path) -> None:
    steps_1_to_4(cli)

    cli.ok("export", "--format", "json", "--out", "one.json")
    cli.ok("export", "--format", "yaml", "--out", "one.yaml")
    assert cli.run("plan", "one.yaml", "--detailed-exitcode").code == 0
    assert cli.run("plan", "one.json", "--detailed-exitcode").code == 0

    two = fresh(new_db_url, tmp_path / "two")
    two.ok("apply", EXPLICIT, "--auto-approve")
    assert_zero_change_plan(two, OMITTED, 7)
    assert two.run("refresh", "--detailed-exitcode").code == 0

    two.ok("export", "--format", "json", "--out", "two.json")
    two.ok("export", "--format", "yaml", "--out", "two.yaml")
    assert (tmp_path / "two" / "two.json").read_bytes() == (tmp_path / "one.json").read_bytes()
    assert (tmp_path / "two" / "two.yaml").read_bytes() == (tmp_path / "one.yaml").read_bytes()


def test_steps_1_to_4_with_a_state_file(cli: CliEnv) -> None:
    steps_1_to_4(cli, "--state", "s.json")
    assert (cli.cwd / "s.json").exists()


# ====================================================================== every kind, both ways
SHORT = """\
manifest: {apiVersion: decisionform/v1, tenant: acme}
resources:
  - apiVersion: decisionform/v1
    kind: Category
    metadata: {name: Cards}
    spec:
      description: Card products
      customFields: [{key: tier}, {key: segment, type: select, options: [a, b]}]
  - apiVersion: decisionform/v1
    kind: SubCategory
    metadata: {name: Premium}
    spec: {category: Cards, customFields: [{key: perks}]}
  - apiVersion: decisionform/v1
    kind: Channel
    metadata: {name: Push}
    spec:
      channelType: push
      placements: [{name: Top}, {name: Inbox, slotType: card, maxSlots: 3}]
  - apiVersion: decisionform/v1
    kind: Channel
    metadata: {name: Hook}
    spec: {channelType: webhook, providerConfig: {url: "https://hooks.example", apiKey: k-123}}
  - apiVersion: decisionform/v1
    kind: Offer
    metadata: {name: Silver}
    spec:
      category: Cards
      subCategory: Premium
      businessValue: 10
      margin: 2.5
      eligibility: {minAge: 18}
      budget: {dailyCapCents: 500}
      frequencyCaps: {perCustomer: {weekly: 2}}
  - apiVersion: decisionform/v1
    kind: Offer
    metadata: {name: Bronze}
    spec: {category: Cards}
  - apiVersion: decisionform/v1
    kind: Creative
    metadata: {name: Silver Push}
    spec: {offer: Silver, channel: Push, placement: Top, templateType: push_notification,
           content: {title: Hi}, personalization: [{variable: firstName}]}
  - apiVersion: decisionform/v1
    kind: QualificationRule
    metadata: {name: Needs VIP}
    spec: {ruleType: segment_required, config: {requiredSegments: [vip]}}
  - apiVersion: decisionform/v1
    kind: QualificationRule
    metadata: {name: Likely}
    spec: {ruleType: propensity_threshold, config: {model: m1, threshold: 1}, scopes: [{scope: global}]}
  - apiVersion: decisionform/v1
    kind: ContactPolicy
    metadata: {name: Quiet Hours}
    spec: {ruleType: time_window, config: {startHour: 22, endHour: 7}}
  - apiVersion: decisionform/v1
    kind: ContactPolicy
    metadata: {name: Not Twice}
    spec: {ruleType: mutual_exclusion, config: {excludeOffers: [Bronze]},
           scopes: [{scope: offer, target: Silver}]}
  - apiVersion: decisionform/v1
    kind: ArbitrationProfile
    metadata: {name: Plain}
    spec: {key: plain, weights: {propensity: 1}}
  - apiVersion: decisionform/v1
    kind: DecisionFlow
    metadata: {name: Main}
    spec:
      key: main
      nodes:
        - {id: inv, type: inventory, config: {categories: [Cards]}}
        - {id: q, type: qualify}
        - {id: cp, type: contact_policy}
        - {id: mc, type: match_creatives}
        - {id: sc, type: score, phase: 2, config: {strategyProfile: Plain}}
        - {id: rk, type: rank, phase: 3}
        - {id: out, type: response, phase: 3}
"""

# The same resources with every optional field written as its default or empty value,
# integral numbers as floats, and (after _reverse_keys) every mapping in reverse key order.
LONG = """\
manifest: {apiVersion: decisionform/v1, tenant: acme, generator: hand}
resources:
  - apiVersion: decisionform/v1
    kind: Category
    metadata: {name: Cards, labels: {}, annotations: {}}
    spec:
      description: Card products
      status: active
      icon: null
      color: null
      ordinal: null
      customFields:
        - {key: tier, label: null, type: text, required: false, options: [], defaultValue: null,
           formula: null, outputType: null}
        - {key: segment, type: select, options: [a, b], required: false}
  - apiVersion: decisionform/v1
    kind: SubCategory
    metadata: {name: Premium, labels: {}}
    spec: {category: Cards, description: null, status: active, icon: null, ordinal: null,
           customFields: [{key: perks, type: text, required: false, options: []}]}
  - apiVersion: decisionform/v1
    kind: Channel
    metadata: {name: Push, annotations: {}}
    spec:
      channelType: push
      status: draft
      description: null
      deliveryMode: api
      impressionMode: explicit
      couplingMode: partial
      providerConfig: {}
      fileConfig: {}
      placements:
        - {name: Top, description: null, slotType: banner, maxSlots: 1, schema: {}, targeting: {}}
        - {name: Inbox, slotType: card, maxSlots: 3, schema: {}, targeting: {}}
  - apiVersion: decisionform/v1
    kind: Channel
    metadata: {name: Hook}
    spec: {channelType: webhook, status: draft, placements: [], fileConfig: {},
           providerConfig: {apiKey: k-123, url: "https://hooks.example", region: null, headers: {}}}
  - apiVersion: decisionform/v1
    kind: Offer
    metadata: {name: Silver, labels: {}, annotations: {}}
    spec:
      category: Cards
      subCategory: Premium
      description: null
      status: draft
      priority: 50
      businessValue: 10.0
      weight: null
      mandatory: false
      shortDesc: null
      tags: []
      productType: null
      margin: 2.50
      revenueValue: null
      eligibility: {minAge: 18.0, extra: null}
      budget: {dailyCapCents: 500, lifetimeCapCents: null}
      schedule: {startDate: null, endDate: null}
      inventory: {totalStock: null}
      frequencyCaps: {perCustomer: {daily: null, weekly: 2, monthly: null}}
      customFields: {}
      metadata: {}
  - apiVersion: decisionform/v1
    kind: Offer
    metadata: {name: Bronze, labels: null, annotations: null}
    spec: {category: Cards, subCategory: null, status: draft, priority: 50, mandatory: false, tags: [],
           budget: null, schedule: {}, inventory: {}, frequencyCaps: {perCustomer: null}, eligibility: {}}
  - apiVersion: decisionform/v1
    kind: Creative
    metadata: {name: Silver Push, labels: {}}
    spec: {offer: Silver, channel: Push, placement: Top, templateType: push_notification,
           content: {title: Hi, body: null}, description: null, status: draft,
           personalization: [{variable: firstName, source: null, fallback: null}],
           constraints: {}, abTestVariant: null, weight: 100}
  - apiVersion: decisionform/v1
    kind: QualificationRule
    metadata: {name: Needs VIP}
    spec: {ruleType: segment_required, config: {requiredSegments: [vip], matchMode: any}, status: active,
           stage: eligibility, priority: 50, scopes: [], description: null}
  - apiVersion: decisionform/v1
    kind: QualificationRule
    metadata: {name: Likely}
    spec: {ruleType: propensity_threshold, config: {model: m1, threshold: 1.0, multiplierBelow: null},
           scopes: [{scope: global, target: null}], priority: 50, stage: eligibility}
  - apiVersion: decisionform/v1
    kind: ContactPolicy
    metadata: {name: Quiet Hours}
    spec: {ruleType: time_window, config: {startHour: 22, endHour: 7, daysOfWeek: [], timezone: UTC},
           priority: 50, scopes: [], status: active}
  - apiVersion: decisionform/v1
    kind: ContactPolicy
    metadata: {name: Not Twice}
    spec: {ruleType: mutual_exclusion, config: {excludeOffers: [Bronze]}, priority: 50,
           scopes: [{scope: offer, target: Silver}], description: null}
  - apiVersion: decisionform/v1
    kind: ArbitrationProfile
    metadata: {name: Plain}
    spec: {key: plain, weights: {propensity: 1.0}, config: {}, status: active, description: null}
  - apiVersion: decisionform/v1
    kind: DecisionFlow
    metadata: {name: Main, labels: {}}
    spec:
      key: main
      status: draft
      description: null
      autoAssembly: false
      couplingOverride: null
      isDefault: false
      nodes:
        - {id: inv, type: inventory, phase: 1,
           config: {categories: [Cards], subCategories: [], offers: [], includeStatuses: []}}
        - {id: q, type: qualify, phase: 1, config: {mode: all, rules: []}}
        - {id: cp, type: contact_policy, phase: 1, config: {mode: all, policies: []}}
        - {id: mc, type: match_creatives, phase: 1, config: {requireCreative: false, placementMatchMode: any}}
        - {id: sc, type: score, phase: 2,
           config: {method: priority_weighted, strategyProfile: Plain, strategyOverrides: []}}
        - {id: rk, type: rank, phase: 3, config: {method: top_n, maxCandidates: 1}}
        - {id: out, type: response, phase: 3, config: {}}
"""
ALL_KINDS = 13


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reverse_keys(v) for k, v in reversed(list(value.items()))}
    if isinstance(value, list):
        return [_reverse_keys(v) for v in value]
    return value


def _write_variants(where: Path) -> dict[str, Path]:
    long_doc = _reverse_keys(yaml.safe_load(LONG))
    (where / "short.yaml").write_text(SHORT)
    (where / "long.yaml").write_text(yaml.safe_dump(long_doc, sort_keys=False))
    write_json(where / "long.json", long_doc)
    write_json(where / "short.json", _reverse_keys(yaml.safe_load(SHORT)))
    return {p.stem + p.suffix: p for p in where.iterdir() if p.name.startswith(("short", "long"))}


@pytest.mark.parametrize(("first", "then"), [("short.yaml", "long.json"), ("long.yaml", "short.json")])
def test_every_kind_spelled_either_way_plans_no_change(cli: CliEnv, first: str, then: str) -> None:
    files = _write_variants(cli.cwd)
    sql = RawSql(cli.url)
    assert summary_of(cli.ok("apply", files[first], "--auto-approve", "--format", "json")) == S(created=ALL_KINDS)

    assert_zero_change_plan(cli, files[then], ALL_KINDS)
    assert_noop_apply(cli, sql, files[then])
    assert_no_drift(cli)
    # An apply --auto-approve of the other spelling writes nothing either.
    before = snapshot(cli, sql)
    cli.ok("apply", files[then], "--auto-approve")
    assert_nothing_written(before, snapshot(cli, sql))

    cli.ok("export", "--format", "yaml", "--out", "export.yaml")
    assert_zero_change_plan(cli, "export.yaml", ALL_KINDS)


def test_every_kind_exports_one_canonical_form(cli: CliEnv, new_db_url: Any, tmp_path: Path) -> None:
    files = _write_variants(cli.cwd)
    other = fresh(new_db_url, tmp_path / "other")
    cli.ok("apply", files["short.yaml"], "--auto-approve")
    other.ok("apply", files["long.json"], "--auto-approve")
    for fmt in ("json", "yaml"):
        assert cli.ok("export", "--format", fmt).out == other.ok("export", "--format", fmt).out


def test_state_file_untouched_by_a_noop_apply_of_the_other_spelling(cli: CliEnv) -> None:
    files = _write_variants(cli.cwd)
    sql = RawSql(cli.url)
    state = ("--state", "s.json")
    cli.ok("apply", files["long.json"], "--auto-approve", *state)
    assert_zero_change_plan(cli, files["short.yaml"], ALL_KINDS, *state)
    assert_noop_apply(cli, sql, files["short.yaml"], *state, state_file="s.json")
    assert_no_drift(cli, *state)


def test_explicit_key_order_alone_is_no_change(cli: CliEnv) -> None:
    """The handed explicit.yaml with every mapping's keys reversed, as JSON."""
    cli.ok("apply", OMITTED, "--auto-approve")
    reversed_doc = _reverse_keys(yaml.safe_load(EXPLICIT.read_text()))
    write_json(cli.cwd / "explicit-reversed.json", reversed_doc)
    assert_zero_change_plan(cli, "explicit-reversed.json", 7)
