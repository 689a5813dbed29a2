"""Issue 7, hardening: eight real ``decisionform`` processes at once, on SQLite and PostgreSQL.

H07 (tests/cases/test_h07_lock_contention.py) races applies of *one* resource on
one tenant. This extends it:

- one tenant, eight processes of different kinds at once: saved plans made
  against the same serial, ``--auto-approve`` applies that wait for the lease,
  one that does not wait, and ``plan`` runs while the applies write (more plans
  keep starting until the last apply ended). Every apply changes its own three
  resources (``--target``: an update of an offer, an update of a creative and a
  new offer), so every successful apply's changes must survive all the others
  (no lost update) and every plan must see each apply's three changes all or none
  (no half-committed apply is ever visible);
- eight tenants, one process each, at once (saved plans and ``--auto-approve``,
  creating, updating and pruning): nobody waits for anybody, everything succeeds.

Each race runs once per backend in CI; ``DECISIONFORM_STRESS=1`` repeats them (``slow``).

Checked after each race: everything ended within the timeout (no deadlock); each
apply exited 0 or failed cleanly as locked or stale (exit 1, "state is locked by"
or "plan is stale", never a database error — ``oob_helpers.assert_clean_failure``);
the state serial and the ``gitops_apply`` audit rows grew by exactly the number of
successful applies, per tenant; no name is live twice in any table; the audit
chain verifies (``Engine.verify_audit``, what ``GET /api/v1/audit-logs/verify``
serves; the CLI has no command for it); no lease is left.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hardening_support import (
    KIND_TABLE,
    STRESS,
    audit_chain,
    json_value,
    lease_rows,
    northwind,
    second_bundle,
    table_snapshot,
    write_bundle,
)

from oob_helpers import (
    Proc,
    assert_clean_failure,
    finish,
    serial,
    spawn,
    sql_audit_applies,
)
from support import CliEnv, CliResult

PROCESS_TIMEOUT = 180  # seconds for the whole race: beyond it, something deadlocked
SLOTS = 6  # applies in the one-tenant race (plus two plans = eight processes)


def fresh_cli(url: str, where: Path) -> CliEnv:
    """What the ``cli`` fixture gives (an upgraded database with tenant acme), once more."""
    where.mkdir()
    cli = CliEnv(url=url, tenant="acme", cwd=where)
    cli.ok("db", "upgrade")
    cli.ok("tenant", "create", "acme")
    return cli


def _res(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "decisionform/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def offer(i: int) -> str:
    return f"Race Offer {i}"


def creative(i: int) -> str:
    return f"Race Creative {i}"


def new_offer(i: int) -> str:
    return f"Race New Offer {i}"


def base_bundle() -> dict[str, Any]:
    """Northwind plus an offer and its creative per apply slot."""
    doc = copy.deepcopy(northwind())
    for i in range(SLOTS):
        doc["resources"] += [
            _res("Offer", offer(i), {"category": "Savings", "status": "active", "priority": 10}),
            _res("Creative", creative(i), {"offer": offer(i), "channel": "Mobile App", "placement": "Home Carousel",
                                           "templateType": "in_app_card", "weight": 50,
                                           "content": {"headline": f"Race {i}"}})]
    return doc


def everything_bundle() -> dict[str, Any]:
    """Every slot's change at once: its offer's priority, its creative's weight, its new offer."""
    doc = base_bundle()
    for r in doc["resources"]:
        name = r["metadata"]["name"]
        for i in range(SLOTS):
            if name == offer(i):
                r["spec"]["priority"] = 60 + i
            elif name == creative(i):
                r["spec"]["weight"] = 70 + i
    doc["resources"] += [_res("Offer", new_offer(i), {"category": "Savings", "priority": 30 + i})
                         for i in range(SLOTS)]
    return doc


def targets(i: int) -> list[str]:
    out = []
    for address in (f"Offer.{offer(i)}", f"Creative.{creative(i)}", f"Offer.{new_offer(i)}"):
        out += ["--target", address]
    return out


def slot_state(snap: Any, tenant_id: str, i: int) -> str:
    """``applied`` (all three changes in), ``untouched`` (none), or what is wrong."""
    def live(kind: str, name: str) -> list[dict[str, Any]]:
        return [r for r in snap[KIND_TABLE[kind]]
                if r["tenant_id"] == tenant_id and r["name"] == name and r["deleted_at"] is None]

    seen = ([(r["priority"], r["version"]) for r in live("Offer", offer(i))],
            [(r["weight"], r["version"]) for r in live("Creative", creative(i))],
            [(r["priority"], r["version"]) for r in live("Offer", new_offer(i))])
    if seen == ([(60 + i, 2)], [(70 + i, 2)], [(30 + i, 1)]):
        return "applied"
    if seen == ([(10, 1)], [(50, 1)], []):
        return "untouched"
    return f"half-applied or duplicated: {seen}"


def assert_no_duplicates(snap: Any) -> None:
    """No name live twice per tenant in any kind table, nor a placement twice per channel."""
    for table in [*KIND_TABLE.values()]:
        keys = [(r["tenant_id"], r["name"]) for r in snap[table] if r["deleted_at"] is None]
        assert len(keys) == len(set(keys)), f"duplicate rows in {table}"
    keys = [(r["channel_id"], r["name"]) for r in snap["placements"] if r["deleted_at"] is None]
    assert len(keys) == len(set(keys)), "duplicate placements"


def tenant_id(snap: Any, name: str) -> str:
    [tid] = [r["id"] for r in snap["tenants"] if r["name"] == name]
    return str(tid)


def plan_view(result: CliResult) -> dict[int, str]:
    """What a plan of ``everything`` saw per slot: ``applied`` (no change left) or ``untouched``."""
    ops = {(d["kind"], d["name"]): d["op"] for d in result.json()["diffs"]}
    view = {}
    for i in range(SLOTS):
        trio = (ops[("Offer", offer(i))], ops[("Creative", creative(i))], ops[("Offer", new_offer(i))])
        view[i] = {("unchanged",) * 3: "applied", ("update", "update", "create"): "untouched"}.get(
            trio, f"half: {trio}")
    return view


# ------------------------------------------------------------------ one tenant
def test_eight_processes_on_one_tenant(cli: CliEnv) -> None:
    one_tenant_race(cli)


@pytest.mark.slow
@STRESS
def test_stress_eight_processes_on_one_tenant(new_db_url: Callable[[], str], tmp_path: Path) -> None:
    for round_ in range(10):
        one_tenant_race(fresh_cli(new_db_url(), tmp_path / f"round{round_}"))


def one_tenant_race(cli: CliEnv) -> None:
    write_bundle(cli.cwd / "base.json", base_bundle())
    write_bundle(cli.cwd / "everything.json", everything_bundle())
    cli.ok("apply", "base.json", "--auto-approve")
    s0, audits0 = serial(cli), sql_audit_applies(cli.url)
    tid = tenant_id(table_snapshot(cli.url), "acme")
    for i in (0, 1):  # two saved plans made against the same serial
        cli.ok("plan", "everything.json", *targets(i), "--out", f"slot{i}.out")

    commands: list[tuple[str, ...]] = [
        ("apply", "slot0.out", "--lock-timeout", "60s"),
        ("apply", "slot1.out", "--lock-timeout", "60s"),
        *[("apply", "everything.json", "--auto-approve", *targets(i), "--lock-timeout", "60s") for i in (2, 3, 4)],
        ("apply", "everything.json", "--auto-approve", *targets(5)),  # does not wait for the lease
        ("plan", "everything.json", "--format", "json"),
        ("plan", "everything.json", "--format", "json"),
    ]
    started = time.monotonic()
    procs = [spawn(cli, *c) for c in commands]
    plans = _plans_while_applying(cli, procs[:SLOTS])
    results = [finish(p, timeout=max(1.0, PROCESS_TIMEOUT - (time.monotonic() - started))) for p in procs]
    applies, plans = results[:SLOTS], results[SLOTS:] + plans

    for result in applies:
        assert "Traceback" not in result.err, result
        if result.code != 0:
            assert_clean_failure(result)
    for i in (2, 3, 4):  # they re-plan under the lease and wait for it: they cannot lose
        assert applies[i].code == 0, applies[i]
    if applies[5].code:
        assert "state is locked by" in applies[5].err, applies[5]
    for i in (0, 1):
        if applies[i].code:
            assert "plan is stale" in applies[i].err.lower(), applies[i]
    won = {i for i, r in enumerate(applies) if r.code == 0}

    snap = table_snapshot(cli.url)
    assert {i: slot_state(snap, tid, i) for i in range(SLOTS)} == \
        {i: "applied" if i in won else "untouched" for i in range(SLOTS)}  # no lost update
    assert_no_duplicates(snap)
    assert serial(cli) == s0 + len(won)
    assert sql_audit_applies(cli.url) == audits0 + len(won)
    assert audit_chain(cli.url).intact
    assert lease_rows(cli.url) == []

    for result in plans:  # each plan saw every apply all or nothing, and only applies that succeeded
        assert result.code == 0, result
        view = plan_view(result)
        assert set(view.values()) <= {"applied", "untouched"}, view
        assert {i for i, v in view.items() if v == "applied"} <= won, (view, won)
    print(f"one tenant: {len(won)} of {SLOTS} applies won, {len(plans)} plans ran alongside")


def _plans_while_applying(cli: CliEnv, applies: list[Proc]) -> list[CliResult]:
    """Start one ``plan`` after another while any apply still runs; return their results."""
    out = []
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while any(p.poll() is None for p in applies):
        assert time.monotonic() < deadline, "the applies did not finish: deadlock?"
        out.append(finish(spawn(cli, "plan", "everything.json", "--format", "json"), timeout=PROCESS_TIMEOUT))
    return out


# ------------------------------------------------------------------ eight tenants
TENANTS = [f"tenant-{k}" for k in range(8)]


def test_eight_processes_across_eight_tenants(cli: CliEnv) -> None:
    tenants_race(cli)


@pytest.mark.slow
@STRESS
def test_stress_eight_processes_across_eight_tenants(new_db_url: Callable[[], str], tmp_path: Path) -> None:
    for round_ in range(5):
        tenants_race(fresh_cli(new_db_url(), tmp_path / f"round{round_}"))


def tenants_race(cli: CliEnv) -> None:
    write_bundle(cli.cwd / "northwind.json", northwind())
    write_bundle(cli.cwd / "second.json", second_bundle())
    for k, tenant in enumerate(TENANTS):
        env = {"DECISIONFORM_TENANT": tenant}
        cli.ok("tenant", "create", tenant)
        cli.ok("apply", "northwind.json", "--auto-approve", **env)
        if k % 2 == 0:
            cli.ok("plan", "second.json", "--prune", "--out", f"{tenant}.out", **env)
    before = table_snapshot(cli.url)
    serials = {t: serial(cli, DECISIONFORM_TENANT=t) for t in TENANTS}
    audits = {t: sql_audit_applies(cli.url, tenant=t) for t in TENANTS}

    procs = [spawn(cli, "apply", f"{t}.out", DECISIONFORM_TENANT=t) if k % 2 == 0 else
             spawn(cli, "apply", "second.json", "--auto-approve", "--prune", DECISIONFORM_TENANT=t)
             for k, t in enumerate(TENANTS)]  # no --lock-timeout: no tenant may wait for another
    started = time.monotonic()
    results = [finish(p, timeout=max(1.0, PROCESS_TIMEOUT - (time.monotonic() - started))) for p in procs]
    for result in results:
        assert result.code == 0 and "lock" not in result.err.lower(), result
        assert "Apply complete: 3 created, 4 updated, 3 deleted" in result.out, result

    after = table_snapshot(cli.url)
    assert_no_duplicates(after)
    expected = {(r["kind"], r["metadata"]["name"]) for r in second_bundle()["resources"]}
    for tenant in TENANTS:
        tid = tenant_id(after, tenant)
        live = {(kind, r["name"]) for kind, table in KIND_TABLE.items() for r in after[table]
                if r["tenant_id"] == tid and r["deleted_at"] is None}
        assert live == expected, tenant
        assert serial(cli, DECISIONFORM_TENANT=tenant) == serials[tenant] + 1
        assert sql_audit_applies(cli.url, tenant=tenant) == audits[tenant] + 1
        assert audit_chain(cli.url, tenant).intact
        [state] = [r for r in after["gitops_state"] if r["tenant_id"] == tid]
        assert {a.split(".", 1)[0] for a in json_value(state["document"])} <= set(KIND_TABLE)
        assert len(json_value(state["document"])) == len(expected)
        assert cli.run("plan", "second.json", "--prune", "--detailed-exitcode", DECISIONFORM_TENANT=tenant).code == 0
    # the tenant the fixture made (acme) was never touched
    acme = tenant_id(after, "acme")
    for table in KIND_TABLE.values():
        assert [r for r in after[table] if r["tenant_id"] == acme] == \
            [r for r in before[table] if r["tenant_id"] == acme] == []
    assert lease_rows(cli.url) == []
