"""Issue 7, hardening: a database fault at every statement an apply sends, and at every commit.

Two realistic plans, on SQLite and PostgreSQL: Northwind (51 resources, all nine
kinds) onto an empty tenant, and a second plan on top of it that creates, updates
(a channel's placements among them) and deletes (``--prune``) at once.

First a clean ``apply plan.out`` runs with a counter on SQLAlchemy's
``before_cursor_execute`` event and on the dialect's ``do_commit``: the positions
1..N it records are every statement and every commit the command sends from its
own thread (the lease's renewal thread is left out: it runs on a timer, not at a
fixed position; with the default 60 s lease it does not run in a 0.1 s apply
anyway). Then, for every position n, the database is restored from a copy taken
before the clean apply (a file copy on SQLite, the rows kept in a side schema on
PostgreSQL; same database, so the saved plan stays valid), the
same plan is applied with the driver's own error (``sqlite3.OperationalError`` /
``psycopg.OperationalError``) raised at position n, and:

- up to and including the commit of the apply's write transaction: exit 1, a
  one-line ``Error:`` with the database's reason, no traceback; every table
  (configuration, state, audit, tenants, …) exactly as before, byte for byte; no
  lease left; then the same plan, without the fault, applies and gives what the
  clean apply gave (``normalised``: generated ids, timestamps and hashes masked);
- after that commit (releasing the lease): the changes are in — exit 0 and
  exactly the clean result — and the lease is released all the same (the
  release is retried once; before the fix in ``state/locks.py`` a failed release
  was swallowed in silence and the lease blocked the tenant for its 60 s).
  A release that keeps failing warns and leaves a lease that expires by itself
  (``test_a_release_that_keeps_failing``).

What the clean apply gives is checked against the bundles themselves (names,
versions, placements, audit actions, state resources), not against the engine's
own output. Both plans are tried at every position: 2 plans x N positions x 2
backends. N is only known once the clean apply ran (and changes whenever the
engine's statements do), so the positions are looped over inside one test per
(backend, plan), which also lets one database copy serve all of them; every
position is tried even when one fails, and the failure lists each failing
position with its statement.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hardening_support import (
    COMMIT,
    KIND_TABLE,
    SECOND_CREATES,
    SECOND_DELETES,
    SECOND_UPDATES,
    DatabaseCopies,
    RowCopies,
    Snapshot,
    audit_chain,
    diff_tables,
    json_value,
    kind_counts,
    lease_rows,
    live_rows,
    normalised,
    northwind,
    placement_count,
    second_bundle,
    state_row,
    table_snapshot,
    watching_sql,
    write_bundle,
)

from oob_helpers import big_bundle
from support import CliEnv


class Faults:
    """Count, and optionally fail at, the statements and commits this thread sends.

    ``fail_at`` n: the n-th of them (``fail_when``: every one whose label matches) raises
    the driver's own ``OperationalError`` instead of reaching the database; SQLAlchemy
    wraps it as it wraps any driver error, so the engine sees what a real fault looks like.
    """

    def __init__(self, backend: str, fail_at: int | None = None,
                 fail_when: Callable[[str], bool] | None = None) -> None:
        self.error: type[Exception] = sqlite3.OperationalError if backend == "sqlite" else psycopg.OperationalError
        self.fail_at = fail_at
        self.fail_when = fail_when or (lambda _label: False)
        self.positions: list[str] = []
        self.failed: str | None = None
        self._watch = watching_sql(self._event)

    def _event(self, label: str) -> None:
        if label.startswith("TX "):  # transaction bookkeeping, not something sent to the database
            return
        self.positions.append(label)
        if len(self.positions) == self.fail_at or self.fail_when(label):
            self.failed = label
            raise self.error(f"injected fault at position {len(self.positions)} ({label})")

    def __enter__(self) -> Faults:
        self._watch.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._watch.__exit__(*exc)


def _write_commit(positions: list[str]) -> int:
    """The (1-based) position of the commit of the apply's write transaction: the last commit before
    the lease is released (whatever the engine wrote before it, so a transaction of its own committing
    part of the apply early would be caught as a write before that commit)."""
    release = positions.index("DELETE gitops_locks")
    return max(i for i, p in enumerate(positions[:release]) if p == COMMIT) + 1


# ------------------------------------------------------------------ the clean result, from the bundles
def _names(doc: dict[str, Any], kind: str) -> set[str]:
    return {r["metadata"]["name"] for r in doc["resources"] if r["kind"] == kind}


def _new_audit(before: Snapshot, after: Snapshot) -> list[dict[str, Any]]:
    old = {r["id"] for r in before["audit_logs"]}
    return [r for r in after["audit_logs"] if r["id"] not in old]


def _check_state(after: Snapshot, doc: dict[str, Any], serial: int, plan_ids: list[str]) -> None:
    state = state_row(after)
    assert state is not None and state["serial"] == serial
    resources = json_value(state["document"])
    assert set(resources) == {f"{r['kind']}.{r['metadata']['name']}" for r in doc["resources"]}
    for address, entry in resources.items():
        kind, name = address.split(".", 1)
        assert entry["id"] == live_rows(after, kind)[name]["id"], address
    assert json_value(state["applied_plan_ids"]) == plan_ids


def check_northwind_applied(before: Snapshot, after: Snapshot, plan_id: str) -> None:
    doc = northwind()
    for kind, table in KIND_TABLE.items():
        assert before[table] == []
        rows = live_rows(after, kind)
        assert set(rows) == _names(doc, kind), kind
        assert len(after[table]) == kind_counts(doc)[kind]
        assert {r["version"] for r in rows.values()} == {1}
    assert len(after["placements"]) == placement_count(doc) == 6
    assert state_row(before) is None
    _check_state(after, doc, 1, [plan_id])
    audit = _new_audit(before, after)
    assert Counter(r["action"] for r in audit) == {"gitops_apply": 1, "gitops_create": 51}
    assert {r["plan_id"] for r in audit} == {plan_id}


def check_second_applied(before: Snapshot, after: Snapshot, plan_id: str) -> None:
    doc = second_bundle()
    touched = {*SECOND_CREATES, *SECOND_UPDATES, *SECOND_DELETES}
    for kind, table in KIND_TABLE.items():
        old = {r["name"]: r for r in before[table]}
        new = {r["name"]: r for r in after[table]}
        assert set(live_rows(after, kind)) == _names(doc, kind), kind
        for name, row in new.items():
            if (kind, name) in SECOND_CREATES:
                assert name not in old and row["version"] == 1 and row["deleted_at"] is None
            elif (kind, name) in SECOND_UPDATES:
                assert (row["id"], row["version"]) == (old[name]["id"], old[name]["version"] + 1)
                assert row["deleted_at"] is None
            elif (kind, name) in SECOND_DELETES:  # a soft delete: the row stays, marked
                assert row["id"] == old[name]["id"] and row["deleted_at"] is not None
            else:
                assert row == old[name], f"{kind} {name!r} is not in the plan but was written"
        assert set(old) <= set(new), f"a {kind} row vanished"
    sidebar = {r["name"]: r for r in after["placements"]}
    assert sidebar["Checkout Sidebar"]["max_slots"] == 3 and "Footer Strip" in sidebar
    assert len([r for r in after["placements"] if r["deleted_at"] is None]) == 7
    serial = state_row(before)["serial"]  # type: ignore[index]
    _check_state(after, doc, serial + 1, [*json_value(state_row(before)["applied_plan_ids"]), plan_id])  # type: ignore[index]
    audit = _new_audit(before, after)
    assert Counter(r["action"] for r in audit) == {"gitops_apply": 1, "gitops_create": 3, "gitops_update": 4,
                                                   "gitops_delete": 3}
    assert {(r["entity_type"], r["entity_name"]) for r in audit if r["action"] != "gitops_apply"} == touched


SCENARIOS = {
    "northwind": (51, 0, 0, check_northwind_applied),
    "create-update-prune": (3, 4, 3, check_second_applied),
}


# ------------------------------------------------------------------ the test
def _prepare(cli: CliEnv, scenario: str) -> tuple[dict[str, int], str]:
    """Bring the working database to the plan's starting point; make the plan. Returns (summary, plan id)."""
    cli.ok("db", "upgrade")
    cli.ok("tenant", "create", "acme")
    prune: tuple[str, ...] = ()
    if scenario == "northwind":
        bundle = write_bundle(cli.cwd / "northwind.json", northwind())
    else:
        cli.ok("apply", write_bundle(cli.cwd / "northwind.json", northwind()), "--auto-approve")
        bundle, prune = write_bundle(cli.cwd / "second.json", second_bundle()), ("--prune",)
    planned = cli.ok("plan", bundle, *prune, "--out", "p.out", "--format", "json").json()
    return planned["summary"], planned["planId"]


def _assert_clean_error(result: Any, position: int) -> None:
    assert result.code == 1, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result
    assert f"injected fault at position {position}" in lines[0], result  # the database's own reason
    assert "unexpected" not in lines[0] and "Traceback" not in result.out, result


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_fault_at_every_position(backend: str, new_db_url: Callable[[], str], tmp_path: Path,
                                   scenario: str) -> None:
    created, updated, deleted, check_applied = SCENARIOS[scenario]
    work = new_db_url()
    cli = CliEnv(url=work, tenant="acme", cwd=tmp_path)
    summary, plan_id = _prepare(cli, scenario)
    assert summary == {"created": created, "updated": updated, "deleted": deleted,
                       "unchanged": 51 - updated - deleted if scenario != "northwind" else 0}

    copies = DatabaseCopies(backend, new_db_url, None) if backend == "sqlite" else RowCopies()
    saved = copies.save(work)
    before = table_snapshot(work)

    with Faults(backend) as counted:
        cli.ok("apply", "p.out")
    clean = table_snapshot(work)
    check_applied(before, clean, plan_id)
    expected = normalised(clean)
    positions = counted.positions
    commit = _write_commit(positions)
    assert 10 <= len(positions) <= 80, positions  # a bounded number of statements (no query per resource)

    problems: list[str] = []
    outcomes: Counter[str] = Counter()
    for n in range(1, len(positions) + 2):  # one past the end: a fault that never fires
        copies.restore(saved, work)
        with Faults(backend, fail_at=n) as faults:
            result = cli.run("apply", "p.out")
        where = f"position {n}/{len(positions)} ({positions[n - 1] if n <= len(positions) else 'none'})"
        try:
            if n > len(positions):  # and the apply sends the same sequence every time
                assert faults.failed is None and result.code == 0, result
                assert faults.positions == positions, faults.positions
                assert normalised(table_snapshot(work)) == expected
                continue
            assert faults.failed == positions[n - 1], f"the apply sent other statements: {faults.positions}"
            if n <= commit:
                _assert_clean_error(result, n)
                after = table_snapshot(work)
                assert after == before, diff_tables(before, after)
                assert lease_rows(work) == [], "the lease must be released at once, not left to expire"
                retried = cli.run("apply", "p.out")
                assert retried.code == 0, retried
                outcomes["failed, then applied"] += 1
            else:
                _after_commit(result, work)
                outcomes["applied (fault after the commit)"] += 1
            done = table_snapshot(work)
            assert normalised(done) == expected, diff_tables(expected, normalised(done))
            chain = audit_chain(work)
            assert chain.intact and chain.total == len(done["audit_logs"]), chain
        except AssertionError as exc:
            problems.append(f"{where}: {str(exc)[:1500]}")
    print(f"{backend} {scenario}: {len(positions)} positions (write commit at {commit}): {dict(outcomes)}")
    assert not problems, "\n".join(problems)


def _after_commit(result: Any, work: str) -> None:
    """A fault after the write transaction committed (releasing the lease): the apply happened, says so,
    and released its lease anyway (the release is retried; see test_a_release_that_keeps_failing)."""
    assert result.code == 0, result
    assert "Apply complete" in result.out and result.err.strip() == "", result
    assert lease_rows(work) == [], "the lease was left behind"


def test_the_positions_include_the_write_commit(backend: str, db_url: str, tmp_path: Path) -> None:
    """The commit of the write transaction is one of the injected positions (and where it is)."""
    cli = CliEnv(url=db_url, tenant="acme", cwd=tmp_path)
    _prepare(cli, "northwind")
    with Faults(backend) as counted:
        cli.ok("apply", "p.out")
    positions = counted.positions
    commit = _write_commit(positions)
    assert positions[commit - 2] == "INSERT audit_logs"
    # the lease: taken before the write transaction, released after its commit
    assert "INSERT gitops_locks" in positions[:commit] and "DELETE gitops_locks" in positions[commit:]
    # commits of the lease, of the write transaction, of the release (the reads before the lease run
    # read-only on the driver, outside SQLAlchemy: nothing of theirs to commit or to inject into here)
    assert positions.count(COMMIT) >= 3, positions


def test_a_release_that_keeps_failing(backend: str, db_url: str, tmp_path: Path) -> None:
    """Every attempt to release the lease fails: the apply still succeeds, says the lease is left and how
    it goes away, and the next apply takes the expired lease over without a manual unlock."""
    cli = CliEnv(url=db_url, tenant="acme", cwd=tmp_path)
    _prepare(cli, "northwind")
    with Faults(backend, fail_when=lambda label: label == "DELETE gitops_locks"):
        result = cli.run("apply", "p.out", DECISIONFORM_LOCK_TTL="2")
    assert result.code == 0 and "Apply complete" in result.out, result
    [lease] = lease_rows(db_url)
    [warning] = result.err.strip().splitlines()
    assert warning.startswith("Warning: could not release lock " + lease["lock_id"]), warning
    assert "expires by itself" in warning and f"decisionform lock unlock {lease['lock_id']}" in warning

    again = cli.run("apply", "northwind.json", "--auto-approve", "--lock-timeout", "60s")
    assert again.code == 0 and "took over an expired lock" in again.err, again
    assert "Nothing to apply" in again.out
    assert lease_rows(db_url) == []


@pytest.mark.parametrize("table", ["offers", "audit_logs"])
def test_a_fault_in_a_bulk_insert(backend: str, db_url: str, tmp_path: Path, table: str) -> None:
    """250 creates: on PostgreSQL the offers and their audit rows go in by COPY (from 200 rows on),
    a path Northwind's plans are too small to take; on SQLite by one executemany each."""
    cli = CliEnv(url=db_url, tenant="acme", cwd=tmp_path)
    _prepare(cli, "northwind")
    cli.ok("apply", "p.out")
    big_bundle(tmp_path / "big.json", 250, category="Savings")
    cli.ok("plan", "big.json", "--out", "big.out")
    before = table_snapshot(db_url)
    verb = "COPY" if backend == "postgresql" else "INSERT"
    with Faults(backend, fail_when=lambda label: label == f"{verb} {table}") as faults:
        result = cli.run("apply", "big.out")
    assert faults.failed == f"{verb} {table}"
    _assert_clean_error(result, faults.positions.index(faults.failed) + 1)
    assert table_snapshot(db_url) == before
    assert lease_rows(db_url) == []

    cli.ok("apply", "big.out")
    after = table_snapshot(db_url)
    bulk = [name for name in live_rows(after, "Offer") if name.startswith("Bulk Offer ")]
    assert len(bulk) == 250
    assert len(after["audit_logs"]) == len(before["audit_logs"]) + 251
    assert audit_chain(db_url).intact
