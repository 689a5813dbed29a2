"""H03 duplicate-keys: a repeated key, resource, node id or unique value is refused, never last-wins.

The case's steps 1-9 (CLI), then the same fault elsewhere: duplicate keys at every depth
of YAML (flow and block style, streams, the files layout) and of JSON; the same resource
twice across files, documents, a kind alias and Unicode spellings; other per-resource and
per-tenant unique values; a unique key taken from a live row.
"""

from __future__ import annotations

import shutil

import pytest
from nothing_written import assert_nothing_written, fails, fails_writing_nothing, snapshot

from support import CliEnv, case_file

CASE = "H03-duplicate-keys"
BASE = {("Category", "Credit Cards"), ("Offer", "Gold Card"), ("Offer", "Silver Card"), ("Channel", "Email")}


@pytest.fixture
def h03(cli: CliEnv) -> CliEnv:
    """The case folder copied into the working directory, ``base.yaml`` applied."""
    shutil.copytree(case_file(CASE, "."), cli.cwd, dirs_exist_ok=True)
    cli.ok("apply", "base.yaml", "--auto-approve")
    assert set(cli.exported()) == BASE
    return cli


def error_line(err: str, *parts: str) -> str:
    """The one line of ``err`` that holds every part."""
    lines = [line for line in err.splitlines() if all(part in line for part in parts)]
    assert len(lines) == 1, (parts, err)
    return lines[0]


# (file, parts that must be on one line of the message)
STEPS = [
    ("dup-label.yaml", ("duplicate key 'team'", 'Offer "Gold Card".metadata.labels', "dup-label.yaml:16:",
                        "line 15")),
    ("dup-spec.yaml", ("duplicate key 'priority'", 'Offer "Gold Card".spec:', "dup-spec.yaml:18:", "line 15")),
    ("dup-resources-key.yaml", ("duplicate key 'resources'", "dup-resources-key.yaml:27:", "line 6")),
    ("bundle.json", ("duplicate key 'priority'", 'Offer "Gold Card".spec:', "bundle.json:13:", "line 11")),
    ("dup-resource.yaml", ('duplicate resource Offer "Gold Card"', "resources[1]", "dup-resource.yaml:10:",
                           "resources[3]", "dup-resource.yaml:18:")),
    ("dup-node-id.yaml", ('DecisionFlow "Web Homepage".spec.nodes[2].id', "duplicate node id 'q'",
                          "dup-node-id.yaml:39:")),
    ("dup-flow-key.yaml", ("'homepage'", 'DecisionFlow "Web Homepage"', 'DecisionFlow "Mobile Homepage"',
                           "unique")),
]


def test_h03_case_steps(h03: CliEnv) -> None:
    cli = h03
    for name, parts in STEPS:  # steps 1-7: validate
        validated = fails(cli, "validate", name)
        error_line(validated.err, *parts)
        # step 8 (and step 3's plan): the same error from plan, no plan file, nothing written
        before = snapshot(cli)
        planned = fails(cli, "plan", name, "--out", "plan.out")
        assert planned.err == validated.err
        assert not (cli.cwd / "plan.out").exists()
        assert_nothing_written(cli, before)
    # step 3: --prune on the collapsed `resources` must not delete what the first list held
    before = snapshot(cli)
    pruned = fails(cli, "plan", "dup-resources-key.yaml", "--prune")
    error_line(pruned.err, "duplicate key 'resources'", "dup-resources-key.yaml:27:")
    fails(cli, "apply", "dup-resources-key.yaml", "--prune", "--auto-approve")
    assert_nothing_written(cli, before)
    assert set(cli.exported()) == BASE
    # step 9: the same name under three kinds is three resources
    assert cli.ok("validate", "ok.yaml").out.strip() == "ok.yaml: valid (3 resources)."
    assert cli.summary("plan", "ok.yaml") == {"created": 3, "updated": 0, "deleted": 0, "unchanged": 0}
    cli.ok("apply", "ok.yaml", "--auto-approve")
    exported = cli.exported()
    assert len(exported) == 7
    assert {key for key in exported if key[1] == "Gold"} == {
        ("Category", "Gold"), ("Offer", "Gold"), ("ArbitrationProfile", "Gold")}
    assert exported[("Offer", "Gold")]["spec"]["category"] == "Gold"
    assert exported[("ArbitrationProfile", "Gold")]["spec"]["key"] == "gold"
    assert cli.run("plan", "ok.yaml", "--detailed-exitcode").code == 0


# ---------------------------------------------------------------- duplicate keys, other depths

HEAD = "manifest: {apiVersion: decisionform/v1, tenant: acme}\n"
CATEGORY = "  - {kind: Category, metadata: {name: Credit Cards}, spec: {status: active}}\n"

KEY_VARIANTS = [
    # top level and manifest
    ("top-manifest.yaml", HEAD + HEAD + "resources: []\n", ("duplicate key 'manifest'", "top-manifest.yaml:2:")),
    ("manifest-tenant.yaml", "manifest:\n  apiVersion: decisionform/v1\n  tenant: acme\n  tenant: other\n"
     "resources: []\n", ("duplicate key 'tenant'", "manifest", "manifest-tenant.yaml:4:")),
    # a resource's own keys
    ("resource-spec.yaml", HEAD + "resources:\n" + CATEGORY + "  - kind: Offer\n    metadata: {name: Gold Card}\n"
     "    spec: {category: Credit Cards, priority: 50}\n    spec: {category: Credit Cards, priority: 10}\n",
     ("duplicate key 'spec'", 'Offer "Gold Card":', "resource-spec.yaml:7:", "line 6")),
    # flow style, one line
    ("flow-style.yaml", HEAD + "resources:\n" + CATEGORY
     + "  - {kind: Offer, metadata: {name: Gold Card, labels: {team: a, team: b}}, spec: {category: Credit Cards}}\n",
     ("duplicate key 'team'", 'Offer "Gold Card".metadata.labels', "flow-style.yaml:4:")),
    # deep in free-form content
    ("content.yaml", HEAD + "resources:\n  - kind: Channel\n    metadata: {name: Email}\n"
     "    spec: {channelType: email}\n  - kind: Creative\n    metadata: {name: Gold Email}\n    spec:\n"
     "      offer: Gold Card\n      channel: Email\n      templateType: email_html\n      content:\n"
     "        body:\n          no: Hei\n          sv: Hej\n          no: Hallo\n",
     ("duplicate key 'no'", 'Creative "Gold Email".spec.content.body', "content.yaml:16:", "line 14")),
    # inside a flow node's config, and inside a list element
    ("node-config.yaml", HEAD + "resources:\n" + CATEGORY + "  - kind: DecisionFlow\n    metadata: {name: Web}\n"
     "    spec:\n      key: web\n      nodes:\n        - id: inv\n          type: inventory\n          phase: 1\n"
     "          config:\n            categories: [Credit Cards]\n            categories: []\n",
     ("duplicate key 'categories'", 'DecisionFlow "Web".spec.nodes[0].config', "node-config.yaml:14:")),
    ("scope.yaml", HEAD + "resources:\n  - kind: QualificationRule\n    metadata: {name: Adults}\n    spec:\n"
     "      ruleType: attribute_condition\n      config: {attribute: age, operator: gte, value: 18}\n"
     "      scopes:\n        - scope: global\n          scope: segment\n",
     ("duplicate key 'scope'", 'QualificationRule "Adults".spec.scopes[0]', "scope.yaml:10:")),
    # a quoted and a plain spelling of the same key
    ("quoted.yaml", HEAD + "resources:\n" + CATEGORY + "  - kind: Offer\n    metadata:\n      name: Gold Card\n"
     "      labels: {team: a, \"team\": b}\n    spec: {category: Credit Cards}\n",
     ("duplicate key 'team'", 'Offer "Gold Card".metadata.labels', "quoted.yaml:7:")),
    # the second document of a stream
    ("stream.yaml", "kind: Category\nmetadata: {name: Credit Cards}\n---\nkind: Offer\nmetadata: {name: Gold Card}\n"
     "spec:\n  category: Credit Cards\n  priority: 50\n  priority: 10\n",
     ("duplicate key 'priority'", 'Offer "Gold Card".spec', "stream.yaml:9:", "line 8")),
    # JSON: deeper, at the top, inside a list element
    ("labels.json", '{"resources": [{"kind": "Offer", "metadata": {"name": "Gold Card",\n'
     ' "labels": {"team": "a",\n "team": "b"}}, "spec": {"category": "Credit Cards"}}]}\n',
     ("duplicate key 'team'", 'Offer "Gold Card".metadata.labels', "labels.json:3:")),
    ("resources.json", '{"resources": [{"kind": "Category", "metadata": {"name": "A"}}],\n "resources": []}\n',
     ("duplicate key 'resources'", "resources.json:2:")),
    ("scopes.json", '{"resources": [{"kind": "ContactPolicy", "metadata": {"name": "Cap"},\n'
     ' "spec": {"ruleType": "cooldown", "config": {"cooldownHours": 24,\n "cooldownHours": 48}}}]}\n',
     ("duplicate key 'cooldownHours'", 'ContactPolicy "Cap".spec.config', "scopes.json:3:")),
]


def test_duplicate_keys_at_every_depth(h03: CliEnv) -> None:
    cli = h03
    for name, text, parts in KEY_VARIANTS:
        (cli.cwd / name).write_text(text)
        error_line(fails(cli, "validate", name).err, *parts)
        error_line(fails_writing_nothing(cli, "plan", name, "--prune").err, *parts)


def test_duplicate_key_in_the_files_layout(h03: CliEnv) -> None:
    cli = h03
    cli.ok("export", "--layout", "files", "--out", "tree")
    gold = next((cli.cwd / "tree" / "offers").glob("gold-card*.yaml"))
    text = gold.read_text()
    assert "  priority: 50\n" in text
    gold.write_text(text.replace("  priority: 50\n", "  priority: 50\n  priority: 5\n"))
    line = text[:text.index("  priority: 50\n")].count("\n") + 2
    where = f"tree/offers/{gold.name}:{line}:"
    error_line(fails(cli, "validate", "tree").err, "duplicate key 'priority'", 'Offer "Gold Card".spec', where)
    error_line(fails_writing_nothing(cli, "plan", "tree", "--prune").err, "duplicate key 'priority'", where)


# ---------------------------------------------------------------- the same resource twice

def test_same_resource_twice_across_files_documents_aliases_and_spellings(h03: CliEnv) -> None:
    cli = h03
    tree = cli.cwd / "two"
    tree.mkdir()
    (tree / "a.yaml").write_text("kind: Category\nmetadata: {name: Credit Cards}\nspec: {status: active}\n")
    (tree / "b.yaml").write_text("# a copy\nkind: Category\nmetadata: {name: Credit Cards}\nspec: {status: paused}\n")
    err = fails(cli, "validate", "two").err
    error_line(err, 'duplicate resource Category "Credit Cards"', "two/a.yaml:1:", "two/b.yaml:2:")
    fails_writing_nothing(cli, "plan", "two")

    (cli.cwd / "stream.yaml").write_text("kind: Channel\nmetadata: {name: Email}\nspec: {channelType: email}\n---\n"
                                         "kind: Channel\nmetadata: {name: Email}\nspec: {channelType: sms}\n")
    error_line(fails(cli, "validate", "stream.yaml").err, 'duplicate resource Channel "Email"', "stream.yaml:1:",
               "stream.yaml:5:")
    fails_writing_nothing(cli, "plan", "stream.yaml")

    # RankingProfile is ArbitrationProfile; a composed and a decomposed "é" are one name (NFC)
    (cli.cwd / "alias.yaml").write_text(
        "resources:\n"
        "  - {kind: ArbitrationProfile, metadata: {name: Balanced}, spec: {key: balanced, weights: {clv: 1}}}\n"
        "  - {kind: RankingProfile, metadata: {name: Balanced}, spec: {key: other, weights: {clv: 1}}}\n"
        '  - {kind: Category, metadata: {name: "Caf\\u00e9"}}\n'
        '  - {kind: Category, metadata: {name: "Cafe\\u0301"}}\n')
    err = fails(cli, "validate", "alias.yaml").err
    assert "2 errors" in err
    error_line(err, 'duplicate resource ArbitrationProfile "Balanced"', "resources[0]", "resources[1]",
               "alias.yaml:2:", "alias.yaml:3:")
    error_line(err, 'duplicate resource Category "Café"', "alias.yaml:4:", "alias.yaml:5:")
    fails_writing_nothing(cli, "plan", "alias.yaml")


def test_other_unique_values_in_one_run(h03: CliEnv) -> None:
    cli = h03
    (cli.cwd / "unique.yaml").write_text(
        "resources:\n"
        "  - kind: Category\n"
        "    metadata: {name: Cards}\n"
        "    spec:\n"
        "      customFields: [{key: tier, label: Tier}, {key: tier, label: Tier again}]\n"
        "  - kind: Channel\n"
        "    metadata: {name: Web}\n"
        "    spec:\n"
        "      channelType: web\n"
        "      placements: [{name: hero, slotType: banner, maxSlots: 1}, {name: hero, slotType: card, maxSlots: 2}]\n"
        "  - {kind: ArbitrationProfile, metadata: {name: Balanced}, spec: {key: balanced, weights: {clv: 1}}}\n"
        "  - {kind: ArbitrationProfile, metadata: {name: Copy}, spec: {key: balanced, weights: {clv: 1}}}\n"
        "  - {kind: DecisionFlow, metadata: {name: F1}, spec: {key: f1, isDefault: true,"
        " nodes: [{id: out, type: response, phase: 3}]}}\n"
        "  - {kind: DecisionFlow, metadata: {name: F2}, spec: {key: f2, isDefault: true,"
        " nodes: [{id: out, type: response, phase: 3}, {id: out, type: response, phase: 3}]}}\n")
    err = fails(cli, "validate", "unique.yaml").err
    assert "5 errors" in err, err
    error_line(err, 'Category "Cards".spec.customFields[1].key', "duplicate custom field key 'tier'", "unique.yaml:5:")
    error_line(err, 'Channel "Web".spec.placements[1].name', "duplicate placement name 'hero'", "unique.yaml:10:")
    error_line(err, 'ArbitrationProfile "Copy".spec.key', "'balanced'", 'ArbitrationProfile "Balanced"',
               "unique.yaml:12:")
    error_line(err, 'DecisionFlow "F2".spec.nodes[1].id', "duplicate node id 'out'", "unique.yaml:14:")
    error_line(err, "default", 'DecisionFlow "F1"', 'DecisionFlow "F2"', "unique.yaml:14:")
    fails_writing_nothing(cli, "plan", "unique.yaml")


def test_unique_key_held_by_a_live_row(h03: CliEnv) -> None:
    cli = h03
    web = ("resources:\n  - kind: DecisionFlow\n    metadata: {name: Web Homepage}\n"
           "    spec: {key: homepage, isDefault: true, nodes: [{id: out, type: response, phase: 3}]}\n")
    (cli.cwd / "web.yaml").write_text(web)
    cli.ok("apply", "web.yaml", "--auto-approve")
    mobile = web.replace("Web Homepage", "Mobile Homepage")
    (cli.cwd / "mobile.yaml").write_text(mobile)
    assert cli.ok("validate", "mobile.yaml").code == 0  # offline: the live flow is not known
    err = fails_writing_nothing(cli, "plan", "mobile.yaml").err
    error_line(err, 'DecisionFlow "Mobile Homepage".spec.key', "'homepage'", 'DecisionFlow "Web Homepage"',
               "mobile.yaml:4:")
    error_line(err, 'DecisionFlow "Mobile Homepage".spec.isDefault', 'DecisionFlow "Web Homepage"')
    # a rename with --prune: the old flow still holds the key while the new one is written, so the
    # plan refuses (instead of an apply failing on the database's unique index)
    err = fails_writing_nothing(cli, "plan", "mobile.yaml", "--prune").err
    error_line(err, 'DecisionFlow "Mobile Homepage".spec.key', "'homepage'", 'DecisionFlow "Web Homepage"',
               "own")
    fails_writing_nothing(cli, "apply", "mobile.yaml", "--prune", "--auto-approve")
    # deleted in an apply of its own first, the key is free
    (cli.cwd / "empty.yaml").write_text("resources: []\n")
    cli.ok("apply", "empty.yaml", "--prune", "--allow-empty", "--auto-approve")
    cli.ok("apply", "mobile.yaml", "--auto-approve")
    assert ("DecisionFlow", "Mobile Homepage") in cli.exported()
