"""H08 reference-cycle: cycles listed as exactly the loop; dangling references named, located, suggested.

The case's steps (CLI) including the cycle closed through the live database, then the
same fault elsewhere: a cycle of four flows beside a flow outside it, two disjoint
cycles in one bundle, a longer loop closed through several live rows, and dangling
references in every reference path of every kind (scopes, policy configs, creative
placements, score overrides, inventories ...), resolved by the database for `plan` only.
"""

from __future__ import annotations

import shutil

import pytest
from nothing_written import assert_nothing_written, fails, fails_writing_nothing, snapshot

from support import CliEnv, case_file

CASE = "H08-reference-cycle"
SUPPORTING = ("Credit Cards", "Gold Card", "Adults", "Weekly Cap", "Balanced")
FIELD = "spec.nodes[4].config.flow"


@pytest.fixture
def h08(cli: CliEnv) -> CliEnv:
    shutil.copytree(case_file(CASE, "."), cli.cwd, dirs_exist_ok=True)
    return cli


def flow(name: str) -> str:
    return f'DecisionFlow "{name}"'


def cycles(err: str) -> list[list[str]]:
    """Each reported cycle as the list of addresses of its closed path."""
    found = []
    for line in err.splitlines():
        if "reference cycle: " in line and " → " in line:
            found.append(line.split("reference cycle: ", 1)[1].strip().split(" → "))
    return found


def assert_cycle(path: list[str], *names: str) -> None:
    """``path`` is the closed loop through ``names`` in reference order, starting anywhere."""
    expected = [flow(n) for n in names]
    assert path[0] == path[-1], path
    loop = path[:-1]
    assert len(loop) == len(expected), path
    start = loop.index(expected[0])
    assert loop[start:] + loop[:start] == expected, path


def test_h08_cycles(h08: CliEnv) -> None:
    cli = h08
    # 1. Main -> Backup -> Main: exactly that loop, its field and lines, nothing else named
    before = snapshot(cli)
    err = fails(cli, "validate", "bundle-cycle.yaml").err
    assert "cycle" in err.lower()
    assert len(cycles(err)) == 1
    assert_cycle(cycles(err)[0], "Main", "Backup")
    assert FIELD in err and "bundle-cycle.yaml:50:" in err and "bundle-cycle.yaml:63:" in err
    for name in SUPPORTING:
        assert name not in err, (name, err)
    planned = fails(cli, "plan", "bundle-cycle.yaml", "--out", "p.out")
    assert planned.err == err
    assert not (cli.cwd / "p.out").exists()
    # 2. a flow calling itself
    err = fails(cli, "validate", "bundle-self.yaml").err
    assert [len(c) for c in cycles(err)] == [2]
    assert_cycle(cycles(err)[0], "Loop")
    assert FIELD in err and "bundle-self.yaml:49:" in err
    assert fails(cli, "plan", "bundle-self.yaml").err == err
    # 3. Entry leads into A -> B -> C -> A but is not part of it
    err = fails(cli, "validate", "bundle-tail.yaml").err
    assert len(cycles(err)) == 1
    assert_cycle(cycles(err)[0], "Flow A", "Flow B", "Flow C")
    assert "Entry" not in err
    for line in (63, 76, 89):
        assert f"bundle-tail.yaml:{line}:" in err
    assert fails(cli, "plan", "bundle-tail.yaml").err == err
    fails(cli, "apply", "bundle-tail.yaml", "--auto-approve")
    assert_nothing_written(cli, before)
    # 4. no cycle: Backup is created before Main, both after the supporting resources
    assert cli.ok("validate", "bundle-ok.yaml").out.strip() == "bundle-ok.yaml: valid (7 resources)."
    planned_ok = cli.ok("plan", "bundle-ok.yaml", "--out", "ok.out", "--format", "json").json()
    assert planned_ok["summary"] == {"created": 7, "updated": 0, "deleted": 0, "unchanged": 0}
    order = [d["name"] for d in planned_ok["diffs"] if d["op"] != "unchanged"]
    assert set(order[:5]) == set(SUPPORTING) and order[5:] == ["Backup", "Main"]
    cli.ok("apply", "ok.out")
    main = cli.exported()[("DecisionFlow", "Main")]
    assert main["spec"]["nodes"][4]["config"]["flow"] == "Backup"  # the stored id, named again
    assert cli.run("plan", "bundle-ok.yaml", "--detailed-exitcode").code == 0


def test_h08_dangling_references(h08: CliEnv) -> None:
    cli = h08  # 5. a fresh database: the names exist nowhere
    expected = [
        ('Offer "Gold Card".spec.category', "Category 'Credit Card' not found", "'Credit Cards'",
         "bundle-dangling.yaml:13:"),
        ('DecisionFlow "Main".spec.nodes[1].config.rules[0]', "QualificationRule 'Adult' not found", "'Adults'",
         "bundle-dangling.yaml:47:"),
        ('DecisionFlow "Backup".spec.nodes[1].config.rules[0]', "QualificationRule 'Adluts' not found", "'Adults'",
         "bundle-dangling.yaml:60:"),
    ]
    err = fails(cli, "validate", "bundle-dangling.yaml").err
    assert_issues(err, expected)
    planned = fails_writing_nothing(cli, "plan", "bundle-dangling.yaml")
    assert_issues(planned.err, expected)


def assert_issues(err: str, expected: list[tuple[str, ...]]) -> None:
    """Exactly these issues, each on one line holding all its parts, with a did-you-mean."""
    assert f"{len(expected)} errors" in err if len(expected) > 1 else True, err
    lines = [line for line in err.splitlines() if line.startswith(("  - ", "Error: ")) and " errors" not in line]
    assert len(lines) == len(expected), err
    for parts in expected:
        matching = [line for line in lines if all(part in line for part in parts)]
        assert len(matching) == 1, (parts, err)
        if len(parts) > 3:
            assert "did you mean" in matching[0], matching[0]


def test_h08_cycle_closed_through_the_live_database(h08: CliEnv) -> None:
    cli = h08
    cli.ok("apply", "live-base.yaml", "--auto-approve")
    err = fails_writing_nothing(cli, "plan", "closes-live-cycle.yaml").err
    assert "cycle" in err.lower()
    assert len(cycles(err)) == 1
    assert_cycle(cycles(err)[0], "Main", "Backup")
    assert "closes-live-cycle.yaml:51:" in err and "database" in err  # the edge only the database has
    fails_writing_nothing(cli, "apply", "closes-live-cycle.yaml", "--auto-approve")
    # offline, validate can only say that Backup is not in the bundle
    offline = fails(cli, "validate", "closes-live-cycle.yaml").err
    assert f'{flow("Main")}.{FIELD}' in offline and "'Backup' not found" in offline


# ---------------------------------------------------------------- the same fault, other shapes

def flows_bundle(calls: dict[str, str | None]) -> str:
    """Flows that each call the named flow (or nothing), one flow per 3 lines from line 2."""
    out = ["resources:\n"]
    for i, (name, target) in enumerate(calls.items()):
        nodes = "{id: out, type: response, phase: 3}"
        if target is not None:
            nodes = f"{{id: next, type: call_flow, phase: 2, config: {{flow: {target}}}}}, " + nodes
        out.append(f"  - kind: DecisionFlow\n    metadata: {{name: {name}}}\n"
                   f"    spec: {{key: k{i}, nodes: [{nodes}]}}\n")
    return "".join(out)


def spec_line(calls: dict[str, str | None], name: str) -> int:
    return 4 + 3 * list(calls).index(name)


def test_a_cycle_of_four_beside_an_outsider(cli: CliEnv) -> None:
    calls = {"Outside": "A", "A": "B", "B": "C", "C": "D", "D": "A", "Alone": None}
    (cli.cwd / "four.yaml").write_text(flows_bundle(calls))
    err = fails(cli, "validate", "four.yaml").err
    assert len(cycles(err)) == 1
    assert_cycle(cycles(err)[0], "A", "B", "C", "D")
    assert "Outside" not in err and "Alone" not in err
    for name in "ABCD":
        assert f'{flow(name)}.spec.nodes[0].config.flow at four.yaml:{spec_line(calls, name)}:' in err, err
    assert fails_writing_nothing(cli, "plan", "four.yaml").err == err


def test_two_disjoint_cycles_each_reported_once(cli: CliEnv) -> None:
    calls = {"X": "Y", "Y": "X", "Fine": "P", "P": "Q", "Q": "R", "R": "P", "Solo": None}
    (cli.cwd / "two.yaml").write_text(flows_bundle(calls))
    err = fails(cli, "validate", "two.yaml").err
    assert "2 errors" in err
    found = cycles(err)
    assert len(found) == 2
    by_size = sorted(found, key=len)
    assert_cycle(by_size[0], "X", "Y")
    assert_cycle(by_size[1], "P", "Q", "R")
    assert "Fine" not in err and "Solo" not in err
    assert fails_writing_nothing(cli, "plan", "two.yaml").err == err


def test_longer_loop_closed_through_several_live_rows(cli: CliEnv) -> None:
    live = {"Main": None, "Middle": "Main", "Backup": "Middle", "Side": "Backup"}
    (cli.cwd / "live.yaml").write_text(flows_bundle(live))
    cli.ok("apply", "live.yaml", "--auto-approve")
    closes = {"Main": "Backup"}
    (cli.cwd / "closes.yaml").write_text(flows_bundle(closes))
    err = fails_writing_nothing(cli, "plan", "closes.yaml").err
    assert len(cycles(err)) == 1
    assert_cycle(cycles(err)[0], "Main", "Backup", "Middle")
    assert "Side" not in err and "closes.yaml:4:" in err
    assert err.count("(in the database)") == 2
    # breaking the loop in the same bundle makes it plan
    (cli.cwd / "breaks.yaml").write_text(flows_bundle({"Main": "Backup", "Middle": None}))
    assert cli.summary("plan", "breaks.yaml") == {"created": 0, "updated": 2, "deleted": 0, "unchanged": 0}


DANGLING = """\
resources:
  - {kind: Category, metadata: {name: Credit Cards}}
  - {kind: SubCategory, metadata: {name: Premium Cards}, spec: {category: Credit Card}}
  - kind: Channel
    metadata: {name: Email}
    spec: {channelType: email, placements: [{name: hero, slotType: banner, maxSlots: 1}]}
  - {kind: Offer, metadata: {name: Gold Card}, spec: {category: Credit Cards, subCategory: Premium Card}}
  - {kind: Creative, metadata: {name: Gold Email}, spec: {offer: Gold Crad, channel: Emial, templateType: email_html}}
  - kind: Creative
    metadata: {name: Gold Hero}
    spec: {offer: Gold Card, channel: Email, placement: heros, templateType: email_html}
  - kind: QualificationRule
    metadata: {name: Adults}
    spec:
      ruleType: attribute_condition
      config: {attribute: age, operator: gte, value: 18}
      scopes:
        - {scope: channel, target: Emails}
        - {scope: offer, target: Gold card}
        - {scope: placement, target: Email/hero2}
        - {scope: creative, target: Gold Emails}
        - {scope: subcategory, target: Premium}
        - {scope: segment, target: no such segment is fine}
  - kind: ContactPolicy
    metadata: {name: No Overlap}
    spec:
      ruleType: mutual_exclusion
      config: {excludeOffers: [Gold Card, Gold Cards]}
      scopes: [{scope: category, target: Credit Card}]
  - kind: ContactPolicy
    metadata: {name: Cross}
    spec: {ruleType: cross_channel_cap, config: {maxPerDay: 1, appliesAcross: [Email, Emal]}}
  - kind: ContactPolicy
    metadata: {name: Suppress}
    spec: {ruleType: category_suppression, config: {category: Credit Card, subCategory: Premium Card, suppressionDays: 3}}
  - {kind: ArbitrationProfile, metadata: {name: Balanced}, spec: {key: balanced, weights: {clv: 1}}}
  - kind: DecisionFlow
    metadata: {name: Main}
    spec:
      key: main
      nodes:
        - {id: inv, type: inventory, phase: 1, config: {categories: [Credit Cards], subCategories: [Premium Crads], offers: [Gold]}}
        - {id: cp, type: contact_policy, phase: 1, config: {mode: selected, policies: [No Overlaps]}}
        - {id: sc, type: score, phase: 2, config: {method: priority_weighted, strategyProfile: Balance, strategyOverrides: [{scope: channel, value: email, profile: Balanced2}]}}
        - {id: op, type: optimize, phase: 2, config: {profile: balanced}}
        - {id: next, type: call_flow, phase: 2, config: {flow: Mian}}
        - {id: out, type: response, phase: 3}
"""

DANGLING_ISSUES = [
    ('SubCategory "Premium Cards".spec.category', "Category 'Credit Card' not found", "'Credit Cards'", ":3:"),
    ('Offer "Gold Card".spec.subCategory', "SubCategory 'Premium Card' not found", "'Premium Cards'", ":7:"),
    ('Creative "Gold Email".spec.offer', "Offer 'Gold Crad' not found", "'Gold Card'", ":8:"),
    ('Creative "Gold Email".spec.channel', "Channel 'Emial' not found", "'Email'", ":8:"),
    ('Creative "Gold Hero".spec.placement', "'heros' is not a placement of Channel 'Email'", "'hero'", ":11:"),
    ('QualificationRule "Adults".spec.scopes[0].target', "Channel 'Emails' not found", "'Email'", ":18:"),
    ('QualificationRule "Adults".spec.scopes[1].target', "Offer 'Gold card' not found", "'Gold Card'", ":19:"),
    ('QualificationRule "Adults".spec.scopes[2].target', "'hero2' is not a placement of Channel 'Email'", "'hero'",
     ":20:"),
    ('QualificationRule "Adults".spec.scopes[3].target', "Creative 'Gold Emails' not found", "'Gold Email'", ":21:"),
    ('QualificationRule "Adults".spec.scopes[4].target', "SubCategory 'Premium' not found", "'Premium Cards'",
     ":22:"),
    ('ContactPolicy "No Overlap".spec.config.excludeOffers[1]', "Offer 'Gold Cards' not found", "'Gold Card'",
     ":28:"),
    ('ContactPolicy "No Overlap".spec.scopes[0].target', "Category 'Credit Card' not found", "'Credit Cards'",
     ":29:"),
    ('ContactPolicy "Cross".spec.config.appliesAcross[1]', "Channel 'Emal' not found", "'Email'", ":32:"),
    ('ContactPolicy "Suppress".spec.config.category', "Category 'Credit Card' not found", "'Credit Cards'", ":35:"),
    ('ContactPolicy "Suppress".spec.config.subCategory', "SubCategory 'Premium Card' not found", "'Premium Cards'",
     ":35:"),
    ('DecisionFlow "Main".spec.nodes[0].config.subCategories[0]', "SubCategory 'Premium Crads' not found",
     "'Premium Cards'", ":42:"),
    ('DecisionFlow "Main".spec.nodes[0].config.offers[0]', "Offer 'Gold' not found", "'Gold Card'", ":42:"),
    ('DecisionFlow "Main".spec.nodes[1].config.policies[0]', "ContactPolicy 'No Overlaps' not found", "'No Overlap'",
     ":43:"),
    ('DecisionFlow "Main".spec.nodes[2].config.strategyProfile', "ArbitrationProfile 'Balance' not found",
     "'Balanced'", ":44:"),
    ('DecisionFlow "Main".spec.nodes[2].config.strategyOverrides[0].profile',
     "ArbitrationProfile 'Balanced2' not found", "'Balanced'", ":44:"),
    ('DecisionFlow "Main".spec.nodes[3].config.profile', "ArbitrationProfile 'balanced' not found", "'Balanced'",
     ":45:"),
    ('DecisionFlow "Main".spec.nodes[4].config.flow', "DecisionFlow 'Mian' not found", "'Main'", ":46:"),
]


def test_dangling_references_in_every_reference_path(cli: CliEnv) -> None:
    (cli.cwd / "dangling.yaml").write_text(DANGLING)
    expected = [(*parts[:3], f"dangling.yaml{parts[3]}") for parts in DANGLING_ISSUES]
    assert_issues(fails(cli, "validate", "dangling.yaml").err, expected)
    assert_issues(fails_writing_nothing(cli, "plan", "dangling.yaml").err, expected)


def test_references_resolved_by_the_database_for_plan_only(cli: CliEnv) -> None:
    (cli.cwd / "base.yaml").write_text(
        "resources:\n"
        "  - {kind: Category, metadata: {name: Credit Cards}}\n"
        "  - {kind: Channel, metadata: {name: Email}, spec: {channelType: email,"
        " placements: [{name: hero, slotType: banner, maxSlots: 1}]}}\n"
        "  - {kind: Offer, metadata: {name: Gold Card}, spec: {category: Credit Cards}}\n")
    cli.ok("apply", "base.yaml", "--auto-approve")
    (cli.cwd / "uses-live.yaml").write_text(
        "resources:\n"
        "  - {kind: Creative, metadata: {name: Gold Hero}, spec: {offer: Gold Card, channel: Email,"
        " placement: hero, templateType: web_banner}}\n"
        "  - kind: ContactPolicy\n"
        "    metadata: {name: One Email}\n"
        "    spec: {ruleType: cross_channel_cap, config: {maxPerDay: 1, appliesAcross: [Email]},"
        " scopes: [{scope: placement, target: Email/hero}]}\n")
    offline = fails(cli, "validate", "uses-live.yaml").err
    assert "5 errors" in offline and "'Gold Card' not found" in offline and "Channel 'Email' not found" in offline
    assert cli.summary("plan", "uses-live.yaml") == {"created": 2, "updated": 0, "deleted": 0, "unchanged": 0}
    cli.ok("apply", "uses-live.yaml", "--auto-approve")
    assert cli.exported()[("Creative", "Gold Hero")]["spec"]["placement"] == "hero"
    # a name the same plan prunes is no longer there to reference
    err = fails_writing_nothing(cli, "plan", "uses-live.yaml", "--prune").err
    assert "Gold Card" in err and 'Creative "Gold Hero"' in err and "spec.offer" in err
    # a live name with a typo still gets its did-you-mean from the database's names
    (cli.cwd / "typo.yaml").write_text("resources:\n  - {kind: Offer, metadata: {name: Silver Card},"
                                       " spec: {category: Credit Crads}}\n")
    assert_issues(fails_writing_nothing(cli, "plan", "typo.yaml").err,
                  [('Offer "Silver Card".spec.category', "Category 'Credit Crads' not found", "'Credit Cards'",
                    "typo.yaml:2:")])
