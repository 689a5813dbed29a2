"""The lease seen through the CLI: ``lock list`` / ``lock unlock``, who waits and who does not.

A lease is held in this process (as another run would hold it) while CLI
commands run: writers (apply, refresh --update-state, state rm/push) fail
with "state is locked by" naming the holder or wait with --lock-timeout;
readers (plan, refresh, export, state pull/list/show, lock list) never take
the lease; another tenant is never blocked.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from decisionform.providers.database import Database, tenant_id
from decisionform.state.locks import LeaseLock
from oob_helpers import serial, sql_update
from support import CliEnv, case_file

CASE = "H07-lock-contention"


@pytest.fixture
def h07(cli: CliEnv) -> CliEnv:
    for name in ("base.yaml", "bundle-a.yaml", "bundle-b.yaml", "globex.yaml"):
        shutil.copy(case_file(CASE, name), cli.cwd / name)
    cli.ok("apply", "base.yaml", "--auto-approve")
    return cli


@pytest.fixture
def db(h07: CliEnv) -> Iterator[Database]:
    database = Database(h07.url)
    yield database
    database.dispose()


def _held(db: Database, tenant: str = "acme", operation: str = "apply") -> LeaseLock:
    with db.read() as conn:
        tid = tenant_id(conn, tenant)
    lock = LeaseLock(db, tid, operation, plan_id="pln_other")
    lock.acquire()
    return lock


def test_lock_list_and_unlock(h07: CliEnv, db: Database) -> None:
    assert h07.ok("lock", "list").out.strip() == "No locks held."
    lock = _held(db)
    try:
        listed = h07.ok("lock", "list").out
        assert lock.lock_id in listed
        for part in ("tenant acme", socket.gethostname(), f"pid {os.getpid()}", "apply", "pln_other", "since",
                     "expires"):
            assert part in listed, listed
        result = h07.run("lock", "unlock", "lck_unknown")
        assert result.code == 1 and "lck_unknown" in result.err, result
        result = h07.ok("lock", "unlock", lock.lock_id)
        assert lock.lock_id in result.out and str(os.getpid()) in result.out
        assert h07.ok("lock", "list").out.strip() == "No locks held."
    finally:
        lock.release()


def test_writers_fail_naming_the_holder(h07: CliEnv, db: Database) -> None:
    sql_update(h07.url, "Offer", "Gold Card", priority=51)  # drift, so refresh --update-state has work
    h07.ok("state", "pull")
    (h07.cwd / "s.json").write_text(h07.ok("state", "pull").out)
    h07.ok("plan", "bundle-a.yaml", "--out", "a.out")
    before = serial(h07)
    lock = _held(db)
    try:
        for args in (("apply", "a.out"), ("apply", "bundle-a.yaml", "--auto-approve"),
                     ("refresh", "--update-state"), ("state", "rm", "Offer.Gold Card"), ("state", "push", "s.json")):
            result = h07.run(*args)
            assert result.code == 1, (args, result)
            assert "state is locked by" in result.err, (args, result)
            assert lock.lock_id in result.err and f"pid {os.getpid()}" in result.err, result
        assert serial(h07) == before
    finally:
        lock.release()


def test_readers_never_take_the_lease(h07: CliEnv, db: Database) -> None:
    lock = _held(db)
    try:
        assert h07.run("plan", "base.yaml", "--detailed-exitcode").code == 0
        assert h07.run("plan", "bundle-a.yaml", "--out", "a.out", "--detailed-exitcode").code == 2
        assert h07.run("refresh", "--detailed-exitcode").code == 0
        for args in (("export", "--format", "json"), ("state", "pull"), ("state", "list"),
                     ("state", "show", "Offer.Gold Card"), ("lock", "list"), ("show", "a.out")):
            h07.ok(*args)
        listed = h07.ok("lock", "list").out
        assert len(listed.splitlines()) == 1 and lock.lock_id in listed
    finally:
        lock.release()
    h07.ok("apply", "a.out")


def test_lock_timeout_waits_for_the_holder(h07: CliEnv, db: Database) -> None:
    lock = _held(db)
    timer = threading.Timer(1.0, lock.release)
    timer.start()
    try:
        started = time.monotonic()
        result = h07.run("apply", "bundle-a.yaml", "--auto-approve", "--lock-timeout", "30s")
        assert result.code == 0, result
        assert time.monotonic() - started >= 0.9
    finally:
        timer.join()
    lock = _held(db)
    try:
        started = time.monotonic()
        result = h07.run("apply", "bundle-b.yaml", "--auto-approve", "--lock-timeout", "1s")
        assert result.code == 1 and "state is locked by" in result.err, result
        assert 0.9 <= time.monotonic() - started < 10
    finally:
        lock.release()
    result = h07.run("apply", "bundle-b.yaml", "--auto-approve", "--lock-timeout", "soon")
    assert result.code == 1 and "soon" in result.err, result


def test_another_tenants_lease_blocks_nobody(h07: CliEnv, db: Database) -> None:
    h07.ok("tenant", "create", "globex")
    lock = _held(db)
    try:
        result = h07.run("apply", "globex.yaml", "--auto-approve", DECISIONFORM_TENANT="globex")
        assert result.code == 0, result
        assert "acme" not in result.err
        rows = {(r["kind"], r["metadata"]["name"]): r
                for r in h07.ok("export", "--format", "json", DECISIONFORM_TENANT="globex").json()["resources"]}
        assert rows[("Offer", "Gold Card")]["spec"]["priority"] == 55 and len(rows) == 2
    finally:
        lock.release()
    assert h07.exported()[("Offer", "Gold Card")]["spec"]["priority"] == 50
