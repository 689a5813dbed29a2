"""H07 lock-contention: concurrent applies on one tenant serialise; a dead run's lease expires.

Every CLI step of the case README (parts A-E; F is HTTP, tested with the API),
on SQLite and PostgreSQL, with real ``decisionform`` processes started at
once. The big bundle is generated smaller than the README's 20,000 Offers
(``BIG``): it only has to keep an apply running long enough to be killed or
read during; the 20,000 version and heavier repetitions are marked ``slow``
and run only with ``DECISIONFORM_STRESS`` set.

The rule checked on every failed run: exit 1 with ``state is locked by`` or
``plan is stale`` — never ``database is locked``, a deadlock, a serialization
failure or a traceback — and the state serial (and the row's version, and
the ``gitops_apply`` audit rows) grow by exactly the number of runs that
exited 0.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from oob_helpers import (
    assert_clean_failure,
    big_bundle,
    finish,
    offer_priority,
    run_at_once,
    serial,
    spawn,
    sql_audit_applies,
    sql_row,
    wait_for_lock,
)
from support import CliEnv, CliResult, case_file

CASE = "H07-lock-contention"
FILES = ("base.yaml", "bundle-a.yaml", "bundle-b.yaml", "globex.yaml")
BIG = 5000
STRESS = pytest.mark.skipif(not os.environ.get("DECISIONFORM_STRESS"), reason="set DECISIONFORM_STRESS=1")


@pytest.fixture
def h07(cli: CliEnv) -> CliEnv:
    """Fresh database; base.yaml applied (serial S0)."""
    for name in FILES:
        shutil.copy(case_file(CASE, name), cli.cwd / name)
    cli.ok("apply", "base.yaml", "--auto-approve")
    return cli


def _bulk(cli: CliEnv, **env: str) -> int:
    exported = cli.ok("export", "--format", "json", **env).json()
    return sum(1 for r in exported["resources"] if r["metadata"]["name"].startswith("Bulk Offer"))


def _no_locks(cli: CliEnv) -> None:
    assert cli.ok("lock", "list").out.strip() == "No locks held."


def _check_runs(cli: CliEnv, results: list[CliResult], s0: int, version0: int, audits0: int) -> int:
    """Each run exited 0 or failed cleanly; everything grew by exactly the successes."""
    for result in results:
        assert result.code in (0, 1), result
        assert "Traceback" not in result.err, result
        if result.code == 1:
            assert_clean_failure(result)
    successes = sum(1 for r in results if r.code == 0)
    assert successes >= 1, results
    assert serial(cli) == s0 + successes
    row = sql_row(cli.url, "Offer", "Gold Card")
    assert row is not None and row["version"] == version0 + successes
    assert sql_audit_applies(cli.url) == audits0 + successes
    _no_locks(cli)
    return successes


def _baseline(cli: CliEnv) -> tuple[int, int, int]:
    row = sql_row(cli.url, "Offer", "Gold Card")
    assert row is not None
    return serial(cli), row["version"], sql_audit_applies(cli.url)


def _variants(cli: CliEnv, values: list[int]) -> list[str]:
    text = (cli.cwd / "bundle-a.yaml").read_text()
    assert "priority: 60" in text
    names = []
    for p in values:
        (cli.cwd / f"p{p}.yaml").write_text(text.replace("priority: 60", f"priority: {p}"))
        names.append(f"p{p}.yaml")
    return names


# ------------------------------------------------------------------ A
@pytest.mark.parametrize("wait", [False, True], ids=["no-timeout", "lock-timeout"])
def test_a_two_saved_plans_applied_at_the_same_instant(h07: CliEnv, wait: bool) -> None:
    s0, version0, audits0 = _baseline(h07)
    for name in ("a", "b"):
        summary = h07.summary("plan", f"bundle-{name}.yaml", "--out", f"{name}.out")
        assert summary == {"created": 0, "updated": 1, "deleted": 0, "unchanged": 1}
    extra = ("--lock-timeout", "60s") if wait else ()
    ra, rb = run_at_once(h07, [("apply", "a.out", *extra), ("apply", "b.out", *extra)])
    assert sorted([ra.code, rb.code]) == [0, 1], (ra, rb)
    winner, loser = ("a", rb) if ra.code == 0 else ("b", ra)
    assert_clean_failure(loser)
    if wait:
        assert "plan is stale" in loser.err.lower() and 'Offer "Gold Card"' in loser.err, loser
    elif "state is locked by" in loser.err:
        for part in ("host", "pid", "apply", "since", "expires"):
            assert part in loser.err, loser
    assert offer_priority(h07, "Gold Card") == {"a": 60, "b": 70}[winner]
    assert _check_runs(h07, [ra, rb], s0, version0, audits0) == 1


# ------------------------------------------------------------------ B
def test_b_eight_plan_and_apply_runs_at_once(h07: CliEnv) -> None:
    s0, version0, audits0 = _baseline(h07)
    names = _variants(h07, list(range(61, 69)))
    results = run_at_once(h07, [("apply", n, "--auto-approve", "--lock-timeout", "60s") for n in names])
    successes = _check_runs(h07, results, s0, version0, audits0)
    winners = {61 + i for i, r in enumerate(results) if r.code == 0}
    assert offer_priority(h07, "Gold Card") in winners
    assert successes == len(winners)


def test_b_eight_runs_without_waiting(h07: CliEnv) -> None:
    """No --lock-timeout: whoever finds the lease held fails at once, cleanly."""
    s0, version0, audits0 = _baseline(h07)
    names = _variants(h07, list(range(71, 79)))
    results = run_at_once(h07, [("apply", n, "--auto-approve") for n in names])
    _check_runs(h07, results, s0, version0, audits0)
    winners = {71 + i for i, r in enumerate(results) if r.code == 0}
    assert offer_priority(h07, "Gold Card") in winners


def test_b_eight_saved_plans_at_once(h07: CliEnv) -> None:
    """Eight plans made against the same serial: exactly one applies, seven are stale."""
    s0, version0, audits0 = _baseline(h07)
    names = _variants(h07, list(range(81, 89)))
    for n in names:
        h07.ok("plan", n, "--out", f"{n}.out")
    results = run_at_once(h07, [("apply", f"{n}.out", "--lock-timeout", "60s") for n in names])
    assert _check_runs(h07, results, s0, version0, audits0) == 1
    for r in results:
        if r.code == 1:
            assert "plan is stale" in r.err.lower() and 'Offer "Gold Card"' in r.err, r
    winner = next(81 + i for i, r in enumerate(results) if r.code == 0)
    assert offer_priority(h07, "Gold Card") == winner


# ------------------------------------------------------------------ C
def _kill_holding_apply(cli: CliEnv, *args: str, **env: str) -> tuple[int, dict]:
    """Start ``apply``, wait until it holds the lease, ``kill -9`` it. Returns (pid, lease row)."""
    proc = spawn(cli, "apply", *args, **env)
    lease = wait_for_lock(cli.url, alive=proc)
    proc.kill()
    proc.wait(timeout=30)
    finish(proc)
    return proc.pid, lease


def test_c_a_killed_apply_leaves_a_lease_that_names_it(h07: CliEnv) -> None:
    big_bundle(h07.cwd / "big.json", BIG)
    h07.ok("plan", "big.json", "--out", "big.out")
    exported = h07.export()
    pid, lease = _kill_holding_apply(h07, "big.out")  # default lease: 60 s

    # 3. the dead apply's lease, named
    listed = h07.ok("lock", "list").out.splitlines()
    assert len(listed) == 1, listed
    for part in (lease["lock_id"], "tenant acme", f"pid {pid}", "apply", "since", "expires"):
        assert part in listed[0], listed
    assert h07.export() == exported  # nothing half-applied

    # 4. plan takes no write lock
    started = time.monotonic()
    result = h07.run("plan", "base.yaml", "--detailed-exitcode")
    assert result.code == 0 and "lock" not in result.err.lower(), result
    assert time.monotonic() - started < 10

    # 5. an apply meets the dead lease: clean refusal naming the same holder, then unlock
    result = h07.run("apply", "bundle-a.yaml", "--auto-approve")
    if result.code == 1:
        assert "state is locked by" in result.err and lease["lock_id"] in result.err, result
        assert f"pid {pid}" in result.err
        h07.ok("lock", "unlock", lease["lock_id"])
        result = h07.run("apply", "bundle-a.yaml", "--auto-approve")
    assert result.code == 0, result
    assert offer_priority(h07, "Gold Card") == 60
    assert _bulk(h07) in (0, BIG)
    _no_locks(h07)


@pytest.mark.parametrize("how", ["saved-plan", "auto-approve"])
def test_c_a_dead_lease_expires_by_itself(h07: CliEnv, how: str) -> None:
    big_bundle(h07.cwd / "big.json", BIG)
    s0 = serial(h07)
    if how == "saved-plan":
        h07.ok("plan", "big.json", "--out", "big.out")
        _kill_holding_apply(h07, "big.out", DECISIONFORM_LOCK_TTL="3")
    else:
        _kill_holding_apply(h07, "big.json", "--auto-approve", DECISIONFORM_LOCK_TTL="3")
    started = time.monotonic()
    result = h07.run("apply", "bundle-a.yaml", "--auto-approve", "--lock-timeout", "120s")
    assert result.code == 0, result
    assert time.monotonic() - started < 30
    assert "took over an expired lock" in result.err, result
    assert offer_priority(h07, "Gold Card") == 60
    bulk = _bulk(h07)
    assert bulk in (0, BIG)
    assert serial(h07) == s0 + 1 + (bulk == BIG)
    _no_locks(h07)


# ------------------------------------------------------------------ D
def test_d_readers_during_a_write(h07: CliEnv) -> None:
    big_bundle(h07.cwd / "big.json", BIG)
    proc = spawn(h07, "apply", "big.json", "--auto-approve")
    seen = set()
    deadline = time.monotonic() + 180
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the apply did not finish"
        exported = h07.ok("export", "--format", "json").json()
        offers = sum(1 for r in exported["resources"] if r["kind"] == "Offer")
        assert offers in (1, BIG + 1), offers
        seen.add(offers)
        result = h07.run("plan", "base.yaml", "--detailed-exitcode")
        assert result.code == 0, result
    result = finish(proc)
    assert result.code == 0, result
    assert seen  # read at least once while it ran
    assert _bulk(h07) == BIG
    _no_locks(h07)


# ------------------------------------------------------------------ E
def test_e_tenants_do_not_block_each_other(h07: CliEnv) -> None:
    h07.ok("tenant", "create", "globex")
    globex = {"DECISIONFORM_TENANT": "globex"}
    big_bundle(h07.cwd / "big.json", BIG)
    h07.ok("plan", "big.json", "--out", "big.out")
    acme_before = h07.export()
    _, lease = _kill_holding_apply(h07, "big.out")  # acme's lease stays for 60 s

    # 3. globex applies at once, never waiting for acme's lease
    started = time.monotonic()
    [result] = run_at_once(h07, [("apply", "globex.yaml", "--auto-approve")], **globex)
    assert result.code == 0, result
    assert time.monotonic() - started < 30
    assert "acme" not in result.err, result
    rows = h07.ok("export", "--format", "json", **globex).json()["resources"]
    assert len(rows) == 2 and offer_priority(h07, "Gold Card", **globex) == 55
    assert h07.export() == acme_before

    # 4. globex applies while an acme apply is running
    h07.ok("lock", "unlock", lease["lock_id"])
    text = (h07.cwd / "globex.yaml").read_text().replace("priority: 55", "priority: 56")
    (h07.cwd / "globex-56.yaml").write_text(text)
    acme = spawn(h07, "apply", "big.json", "--auto-approve")
    wait_for_lock(h07.url, alive=acme)
    [result] = run_at_once(h07, [("apply", "globex-56.yaml", "--auto-approve")], **globex)
    assert result.code == 0, result
    assert "locked" not in result.err.lower()
    assert offer_priority(h07, "Gold Card", **globex) == 56
    assert finish(acme).code == 0
    assert _bulk(h07) == BIG and _bulk(h07, **globex) == 0
    _no_locks(h07)


# ------------------------------------------------------------------ stress (DECISIONFORM_STRESS=1)
@pytest.mark.slow
@STRESS
def test_stress_a_repeated(h07: CliEnv) -> None:
    for round_ in range(10):
        s0, version0, audits0 = _baseline(h07)
        names = _variants(h07, [100 - 2 * round_ - 1, 100 - 2 * round_ - 2])  # distinct from the live value
        for n in names:
            h07.ok("plan", n, "--out", f"{n}.out")
        results = run_at_once(h07, [("apply", f"{n}.out") for n in names])
        assert _check_runs(h07, results, s0, version0, audits0) == 1


@pytest.mark.slow
@STRESS
def test_stress_sixteen_runs(h07: CliEnv) -> None:
    s0, version0, audits0 = _baseline(h07)
    names = _variants(h07, list(range(31, 47)))
    results = run_at_once(h07, [("apply", n, "--auto-approve", "--lock-timeout", "120s") for n in names])
    _check_runs(h07, results, s0, version0, audits0)


@pytest.mark.slow
@STRESS
def test_stress_the_readmes_big_bundle(h07: CliEnv) -> None:
    big_bundle(h07.cwd / "big.json", 20000)
    h07.ok("plan", "big.json", "--out", "big.out")
    _kill_holding_apply(h07, "big.out", DECISIONFORM_LOCK_TTL="5")
    result = h07.run("apply", "bundle-a.yaml", "--auto-approve", "--lock-timeout", "120s")
    assert result.code == 0, result
    assert _bulk(h07) in (0, 20000)
    proc = spawn(h07, "apply", "big.json", "--auto-approve")
    deadline = time.monotonic() + 600
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the apply did not finish"
        offers = sum(1 for r in h07.export()["resources"] if r["kind"] == "Offer")
        assert offers in (1, 20001), offers
    assert finish(proc).code == 0
