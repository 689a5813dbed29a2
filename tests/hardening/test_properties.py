"""Convergence properties over generated valid bundles (all nine kinds), on SQLite and PostgreSQL.

Each test gets one fresh database (the conftest's ``db_url``/``new_db_url``); each hypothesis
example gets a fresh tenant in it, so the expensive part (CREATE DATABASE + migrations) is paid
once per test, not per example. Properties:

- apply, then plan the same bundle: zero changes (through the real CLI);
- export (YAML, JSON, files layout) twice: byte-identical; planning each export: zero changes;
- load(dump(x)) == x for the YAML, JSON and files layouts (no database);
- the same bundle applied to two databases gives the same rows, ids mapped to names;
- renaming one leaf resource plans as exactly one create and one delete (with prune), and the
  apply leaves every other row untouched (all columns, version and timestamps included).

Default run: ``CI`` profile (bounded, derandomized). ``DECISIONFORM_STRESS=1``: the ``slow``
variants with the ``HEAVY`` profile.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bundles import CI, HEAVY, Generated, bundles, names, nfc, stress_only
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from decisionform.bundle.dump import dump_json, dump_yaml, files_layout, write_files_layout
from decisionform.bundle.kinds import KINDS
from decisionform.bundle.load import load_bundle, load_bundle_text
from decisionform.bundle.source import read_bundle, read_bundle_text
from decisionform.engine import Engine, Settings
from decisionform.providers.database import Database
from decisionform.providers.schema import KIND_TABLES, placements, tenants
from support import CliEnv

FOLDERS = {k.name: k.folder for k in KINDS}
ID_RE = re.compile(r"^(ten|cat|sub|chn|off|crv|qr|cp|ap|df|plc)_[a-z2-7]{20}$")
_tenants = itertools.count()


# ------------------------------------------------------------------ fixtures and helpers
@dataclass
class Site:
    """One upgraded database; ``tenant()`` makes a fresh tenant in it (one per example)."""

    url: str
    database: Database
    cwd: Path

    def tenant(self, name: str | None = None) -> tuple[Engine, CliEnv]:
        name = name or f"t{next(_tenants)}-{secrets.token_hex(3)}"
        engine = Engine(Settings(database_url=self.url, tenant=name, state="db"), database=self.database)
        engine.create_tenant(name)
        return engine, CliEnv(url=self.url, tenant=name, cwd=self.cwd)


@pytest.fixture
def open_site(tmp_path: Path) -> Iterator[Callable[[str], Site]]:
    opened: list[Database] = []

    def make(url: str) -> Site:
        database = Database(url)
        database.upgrade()
        opened.append(database)
        cwd = Path(tempfile.mkdtemp(dir=tmp_path))
        return Site(url, database, cwd)

    yield make
    for database in opened:
        database.dispose()


@pytest.fixture
def site(db_url: str, open_site: Callable[[str], Site]) -> Site:
    return open_site(db_url)


def bundle_text(gen: Generated, syntax: str) -> str:
    """The generated bundle as a user might write it: stdlib JSON, or the engine's YAML writer."""
    return json.dumps(gen.doc, ensure_ascii=False, indent=1) if syntax == "json" else dump_yaml(gen.doc)


def write_bundle(site: Site, gen: Generated, syntax: str) -> Path:
    path = site.cwd / f"bundle-{secrets.token_hex(4)}.{syntax}"
    path.write_text(bundle_text(gen, syntax), encoding="utf-8")
    return path


def load_generated(gen: Generated) -> Any:
    return load_bundle_text(json.dumps(gen.doc, ensure_ascii=False), syntax="json")


def non_unchanged(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(d["op"], d["kind"], d["name"]) for d in doc["diffs"] if d["op"] != "unchanged"]


def identical(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1 is not 1.0, key order irrelevant)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def resource_key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def canonical_resources(bundle: Any) -> list[tuple[str, str, Any, Any, Any]]:
    return sorted(((r.kind, r.name, r.spec, r.labels, r.annotations) for r in bundle.resources),
                  key=lambda t: (t[0], t[1]))


# ------------------------------------------------------------------ raw rows
def raw_rows(database: Database, tenant: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Every row of the tenant in the kind tables and ``placements``: table -> id -> columns."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    with database.read() as conn:
        tid = conn.execute(select(tenants.c.id).where(tenants.c.name == tenant)).scalar_one()
        for table in (*KIND_TABLES.values(), placements):
            rows = conn.execute(select(table).where(table.c.tenant_id == tid)).mappings().all()
            out[table.name] = {row["id"]: dict(row) for row in rows}
    out["tenants"] = {tid: {"id": tid}}
    return out


def rows_by_name(database: Database, tenant: str) -> dict[str, list[str]]:
    """The tenant's rows with every id (columns and ids inside JSON) replaced by what it names.

    Timestamps differ between databases by nature and are left out (``deleted_at`` is kept
    as set / not set). Rows are JSON, sorted, per table.
    """
    rows = raw_rows(database, tenant)
    label: dict[str, str] = {tid: "<tenant>" for tid in rows.pop("tenants")}
    kind_of = {k.table: k.name for k in KINDS}
    for table, by_id in rows.items():
        if table != "placements":
            for row_id, row in by_id.items():
                label[row_id] = f"<{kind_of[table]}:{row['name']}>"
    for row_id, row in rows["placements"].items():
        label[row_id] = f"<Placement:{label[row['channel_id']]}/{row['name']}>"

    def relabel(value: Any) -> Any:
        if isinstance(value, str):
            if ID_RE.match(value):
                assert value in label, f"id {value} names no row of this tenant"
                return label[value]
            return value
        if isinstance(value, dict):
            return {relabel(k): relabel(v) for k, v in value.items()}
        if isinstance(value, list):
            return [relabel(v) for v in value]
        return value

    out = {}
    for table, by_id in rows.items():
        docs = []
        for row in by_id.values():
            row = {k: v for k, v in row.items() if k not in ("created_at", "updated_at")}
            row["deleted_at"] = row["deleted_at"] is not None
            docs.append(json.dumps(relabel(row), sort_keys=True, ensure_ascii=False))
        out[table] = sorted(docs)
    return out


# ------------------------------------------------------------------ 1. apply, then plan: nothing
def check_apply_then_plan(site: Site, gen: Generated, syntax: str) -> None:
    _, cli = site.tenant()
    path = write_bundle(site, gen, syntax)
    applied = cli.ok("apply", path, "--auto-approve", "--format", "json").json()
    assert applied["summary"] == {"created": len(gen.resources), "updated": 0, "deleted": 0, "unchanged": 0}
    plan = cli.run("plan", path, "--detailed-exitcode", "--format", "json")
    assert plan.code == 0, (non_unchanged(plan.json()) if plan.out else plan)
    assert plan.json()["summary"] == {"created": 0, "updated": 0, "deleted": 0, "unchanged": len(gen.resources)}
    exported = {(r["kind"], r["metadata"]["name"]) for r in cli.export()["resources"]}
    assert exported == gen.addresses()


@settings(CI, max_examples=35)
@given(gen=bundles(), syntax=st.sampled_from(["yaml", "json"]))
def test_apply_then_plan_has_no_changes(site: Site, gen: Generated, syntax: str) -> None:
    check_apply_then_plan(site, gen, syntax)


@pytest.mark.slow
@stress_only
@HEAVY
@given(gen=bundles(max_per_kind=6), syntax=st.sampled_from(["yaml", "json"]))
def test_apply_then_plan_has_no_changes_stress(site: Site, gen: Generated, syntax: str) -> None:
    check_apply_then_plan(site, gen, syntax)


# ------------------------------------------------------------------ 2. export: stable, plans to nothing
def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def check_export(site: Site, gen: Generated) -> None:
    engine, cli = site.tenant()
    engine.apply_bundle(load_generated(gen), engine.options())
    for fmt in ("yaml", "json"):
        first, second = cli.ok("export", "--format", fmt).out, cli.ok("export", "--format", fmt).out
        assert first == second, f"two {fmt} exports differ"
        path = site.cwd / f"export-{secrets.token_hex(4)}.{fmt}"
        path.write_text(first, encoding="utf-8")
        plan = cli.run("plan", path, "--detailed-exitcode", "--format", "json")
        assert plan.code == 0, (fmt, non_unchanged(plan.json()) if plan.out else plan)
        assert plan.json()["summary"]["unchanged"] == len(gen.resources)
    one, two = site.cwd / f"files-{secrets.token_hex(4)}", site.cwd / f"files-{secrets.token_hex(4)}"
    cli.ok("export", "--layout", "files", "--out", one)
    cli.ok("export", "--layout", "files", "--out", two)
    assert tree(one) == tree(two)
    assert len(tree(one)) == len(gen.resources) + 1  # one file per resource, plus manifest.yaml
    plan = cli.run("plan", one, "--detailed-exitcode", "--format", "json")
    assert plan.code == 0, (non_unchanged(plan.json()) if plan.out else plan)
    exported = {resource_key(r) for r in cli.export()["resources"]}
    assert exported == gen.addresses()


@settings(CI, max_examples=20)
@given(gen=bundles())
def test_export_is_byte_stable_and_plans_to_no_changes(site: Site, gen: Generated) -> None:
    check_export(site, gen)


@pytest.mark.slow
@stress_only
@HEAVY
@given(gen=bundles(max_per_kind=6))
def test_export_is_byte_stable_and_plans_to_no_changes_stress(site: Site, gen: Generated) -> None:
    check_export(site, gen)


# ------------------------------------------------------------------ 3. load(dump(x)) == x
def check_round_trip(gen: Generated) -> None:
    doc = gen.doc
    expected_manifest = doc.get("manifest")
    reference = canonical_resources(load_generated(gen))
    for text in (dump_yaml(doc), dump_json(doc)):
        raw = read_bundle_text(text)
        assert identical([e.data for e in raw.entries], doc["resources"])
        assert identical(raw.manifest, expected_manifest)
        assert canonical_resources(load_bundle_text(text)) == reference
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle"
        write_files_layout(files_layout(expected_manifest or {}, doc["resources"], FOLDERS), out)
        assert all(p.resolve().is_relative_to(out.resolve()) for p in Path(tmp).rglob("*") if p != out)
        raw = read_bundle(out)
        assert identical(sorted((e.data for e in raw.entries), key=resource_key),
                         sorted(doc["resources"], key=resource_key))
        assert identical(raw.manifest, expected_manifest or {})
        assert canonical_resources(load_bundle(out)) == reference


@settings(CI, max_examples=60)  # no database: cheap, so more examples
@given(gen=bundles())
def test_load_of_dump_is_identity_in_every_layout(gen: Generated) -> None:
    check_round_trip(gen)


@pytest.mark.slow
@stress_only
@HEAVY
@given(gen=bundles(max_per_kind=6))
def test_load_of_dump_is_identity_in_every_layout_stress(gen: Generated) -> None:
    check_round_trip(gen)


# ------------------------------------------------------------------ 4. two databases, same rows
@pytest.fixture
def two_sites(new_db_url: Callable[[], str], open_site: Callable[[str], Site]) -> tuple[Site, Site]:
    return open_site(new_db_url()), open_site(new_db_url())


def check_same_rows(sites: tuple[Site, Site], gen: Generated) -> None:
    name = f"same-{next(_tenants)}"
    tables = []
    for site in sites:
        engine, _ = site.tenant(name)
        engine.apply_bundle(load_generated(gen), engine.options())
        tables.append(rows_by_name(site.database, name))
    first, second = tables
    assert first == second
    kind_of = {k.table: k.name for k in KINDS}
    found = {(kind_of[t], json.loads(row)["name"]) for t, rows in first.items() if t in kind_of for row in rows}
    assert found == gen.addresses()
    assert all(json.loads(row)["version"] == 1 for rows in first.values() for row in rows)


@settings(CI, max_examples=30)
@given(gen=bundles())
def test_same_bundle_gives_the_same_rows_in_two_databases(two_sites: tuple[Site, Site], gen: Generated) -> None:
    check_same_rows(two_sites, gen)


@pytest.mark.slow
@stress_only
@HEAVY
@given(gen=bundles(max_per_kind=6))
def test_same_bundle_gives_the_same_rows_in_two_databases_stress(two_sites: tuple[Site, Site],
                                                                   gen: Generated) -> None:
    check_same_rows(two_sites, gen)


# ------------------------------------------------------------------ 5. rename = one create + one delete
def check_rename(site: Site, data: st.DataObject) -> None:
    gen = data.draw(bundles(), label="bundle")
    leaves = gen.leaves()
    assume(leaves)
    index = data.draw(st.sampled_from(leaves), label="renamed")
    renamed = copy.deepcopy(gen.doc)
    target = renamed["resources"][index]
    kind = "ArbitrationProfile" if target["kind"] == "RankingProfile" else target["kind"]
    old = target["metadata"]["name"]
    taken = {nfc(n) for n in gen.names[kind]}
    new = data.draw(names.filter(lambda n: nfc(n) not in taken), label="new name")
    target["metadata"]["name"] = new
    if kind in ("ArbitrationProfile", "DecisionFlow"):  # keys are unique too: a new resource needs its own
        used = {r["spec"]["key"] for r in renamed["resources"] if "key" in (r.get("spec") or {})}
        target["spec"]["key"] = next(k for k in (f"renamed-{i}" for i in itertools.count()) if k not in used)

    engine, _ = site.tenant()
    engine.apply_bundle(load_generated(gen), engine.options())
    before = raw_rows(site.database, engine.tenant)
    plan = engine.plan(load_bundle_text(json.dumps(renamed, ensure_ascii=False)), engine.options(prune=True))
    assert non_unchanged(plan.to_document()) == [("create", kind, nfc(new)), ("delete", kind, nfc(old))]
    engine.apply_plan(plan)
    after = raw_rows(site.database, engine.tenant)

    table = next(k.table for k in KINDS if k.name == kind)
    old_id = next(i for i, row in before[table].items() if row["name"] == nfc(old))
    for name in before:
        for row_id, row in before[name].items():
            if row_id == old_id or (name == "placements" and row["channel_id"] == old_id):
                assert after[name][row_id]["deleted_at"] is not None  # the old one is (soft) deleted
                continue
            assert after[name][row_id] == row, f"unrelated row {name}/{row['name']!r} changed"
    added = {(name, row["name"]) for name in after for row_id, row in after[name].items()
             if row_id not in before[name]}
    placements_of_new = [p["name"] for p in (target.get("spec") or {}).get("placements", [])] \
        if kind == "Channel" else []
    assert added == {(table, nfc(new)), *(("placements", nfc(p)) for p in placements_of_new)}


@settings(CI, max_examples=35)
@given(data=st.data())
def test_rename_is_one_create_and_one_delete_and_touches_nothing_else(site: Site, data: st.DataObject) -> None:
    check_rename(site, data)


@pytest.mark.slow
@stress_only
@HEAVY
@given(data=st.data())
def test_rename_is_one_create_and_one_delete_stress(site: Site, data: st.DataObject) -> None:
    check_rename(site, data)


# ------------------------------------------------------------------ big integral floats in JSON
@pytest.mark.parametrize("value", [
    -4.4585782506708216e16,  # found by the properties above
    1e16, 1.8e19,  # the smallest and a large one that orjson writes with an exponent and reads as an integer
    2.0**53, 1e300, 0.5,  # converge: written with ".0", or past what orjson reads as an integer
])
def test_big_integral_float_in_free_form_json_converges(site: Site, value: float) -> None:
    gen = Generated(doc={"resources": [{"kind": "Channel", "metadata": {"name": "Email"},
                                        "spec": {"channelType": "email", "providerConfig": {"x": value}}}]},
                    names={"Channel": ["Email"]})
    _, cli = site.tenant()
    path = write_bundle(site, gen, "json")
    cli.ok("apply", path, "--auto-approve")
    plan = cli.run("plan", path, "--detailed-exitcode", "--format", "json")
    assert plan.code == 0, non_unchanged(plan.json()) if plan.out else plan
