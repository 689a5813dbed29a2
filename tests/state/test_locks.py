"""Lease locks per tenant (``state/locks.py``), on SQLite and PostgreSQL.

Who holds a lease and how it reads; waiting up to a timeout; an expired lease
taken over with a warning; renewal keeping a live holder's lease past its TTL;
a dead holder's lease running out; ``unlock``; tenants independent; many
takers at the same instant (fresh row and expired row) leaving exactly one
holder and no database error.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from decisionform.errors import DecisionformError, LockedError, UsageError
from decisionform.providers.database import Database, create_tenant
from decisionform.providers.schema import gitops_locks
from decisionform.state.locks import LeaseLock, lease_ttl, list_locks, parse_duration, unlock, whoami


@pytest.fixture
def tenants(database: Database) -> tuple[str, str]:
    with database.write() as conn:
        return create_tenant(conn, "acme"), create_tenant(conn, "globex")


def _dead(lock: LeaseLock) -> LeaseLock:
    """Make ``lock``'s holder "die": it stops renewing and never releases."""
    lock._stop.set()
    assert lock._thread is not None
    lock._thread.join(timeout=10)
    return lock


def _plant(database: Database, tenant_id: str, *, expired: bool, host: str = "ghost-host",
           pid: int = 424242) -> str:
    """A lease row written by some other process."""
    now = datetime.now(UTC)
    expires = now - timedelta(seconds=5) if expired else now + timedelta(minutes=10)
    with database.write() as conn:
        conn.execute(insert(gitops_locks).values(
            tenant_id=tenant_id, lock_id="lck_planted", holder="ci@ghost-host", host=host, pid=pid,
            operation="apply", plan_id="pln_planted", acquired_at=now - timedelta(minutes=1), expires_at=expires))
    return "lck_planted"


def test_the_lease_names_its_holder(database: Database, tenants: tuple[str, str]) -> None:
    acme, _ = tenants
    before = datetime.now(UTC) - timedelta(seconds=1)
    with LeaseLock(database, acme, "apply", plan_id="pln_abc") as lock:
        [info] = list_locks(database)
        assert info.lock_id == lock.lock_id and info.tenant_id == acme
        assert (info.holder, info.host, info.pid) == (whoami(), socket.gethostname(), os.getpid())
        assert (info.operation, info.plan_id) == ("apply", "pln_abc")
        assert before <= info.acquired_at <= datetime.now(UTC)
        assert info.expires_at - info.acquired_at == timedelta(seconds=lease_ttl())
        text = info.describe()
        for part in (whoami(), socket.gethostname(), f"pid {os.getpid()}", "apply", "pln_abc", "since",
                     "expires", lock.lock_id):
            assert part in text, text
        assert info.as_dict()["lockId"] == lock.lock_id
    assert list_locks(database) == []


def test_a_second_holder_fails_naming_the_first(database: Database, tenants: tuple[str, str]) -> None:
    acme, _ = tenants
    with LeaseLock(database, acme, "apply") as first:
        with pytest.raises(LockedError) as err:
            LeaseLock(database, acme, "refresh", timeout=0).acquire()
        message = str(err.value)
        assert message.startswith("state is locked by"), message
        assert first.lock_id in message and f"pid {os.getpid()}" in message and "apply" in message
        assert f"decisionform lock unlock {first.lock_id}" in message
        assert [i.lock_id for i in list_locks(database)] == [first.lock_id]


def test_waits_up_to_the_timeout(database: Database, tenants: tuple[str, str]) -> None:
    acme, _ = tenants
    first = LeaseLock(database, acme, "apply")
    first.acquire()
    timer = threading.Timer(0.8, first.release)
    timer.start()
    try:
        started = time.monotonic()
        with LeaseLock(database, acme, "apply", timeout=30) as second:
            waited = time.monotonic() - started
            assert 0.5 < waited < 10
            assert [i.lock_id for i in list_locks(database)] == [second.lock_id]
    finally:
        timer.join()

    with LeaseLock(database, acme, "apply"):
        started = time.monotonic()
        with pytest.raises(LockedError):
            LeaseLock(database, acme, "apply", timeout=0.6).acquire()
        assert 0.5 < time.monotonic() - started < 5


def test_an_expired_lease_is_taken_over_with_a_warning(database: Database, tenants: tuple[str, str]) -> None:
    acme, _ = tenants
    _plant(database, acme, expired=True)
    warnings: list[str] = []
    with LeaseLock(database, acme, "apply", warn=warnings.append) as lock:
        [info] = list_locks(database)
        assert info.lock_id == lock.lock_id and info.pid == os.getpid()
    assert len(warnings) == 1, warnings
    assert "took over an expired lock" in warnings[0]
    assert "ghost-host" in warnings[0] and "424242" in warnings[0] and "lck_planted" in warnings[0]


def test_a_live_lease_is_not_taken_over(database: Database, tenants: tuple[str, str]) -> None:
    acme, _ = tenants
    _plant(database, acme, expired=False)
    with pytest.raises(LockedError, match="ghost-host"):
        LeaseLock(database, acme, "apply", timeout=0).acquire()


def test_renewal_keeps_the_lease_alive_past_its_ttl(database: Database, tenants: tuple[str, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    acme, _ = tenants
    monkeypatch.setenv("DECISIONFORM_LOCK_TTL", "1")
    with LeaseLock(database, acme, "apply") as lock:
        first_expiry = list_locks(database)[0].expires_at
        time.sleep(2.5)  # more than twice the TTL
        [info] = list_locks(database)
        assert info.lock_id == lock.lock_id
        assert info.expires_at > first_expiry and info.expires_at > datetime.now(UTC)
        warnings: list[str] = []
        with pytest.raises(LockedError):
            LeaseLock(database, acme, "apply", timeout=0, warn=warnings.append).acquire()
        assert warnings == []
        assert not lock.lost


def test_a_dead_holders_lease_runs_out_by_itself(database: Database, tenants: tuple[str, str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    acme, _ = tenants
    monkeypatch.setenv("DECISIONFORM_LOCK_TTL", "1")
    dead = LeaseLock(database, acme, "apply")
    dead.acquire()
    _dead(dead)
    with pytest.raises(LockedError):
        LeaseLock(database, acme, "apply", timeout=0).acquire()
    warnings: list[str] = []
    started = time.monotonic()
    with LeaseLock(database, acme, "apply", timeout=10, warn=warnings.append):
        assert time.monotonic() - started < 5
    assert len(warnings) == 1 and dead.lock_id in warnings[0]


def test_unlock_removes_a_lease_and_its_holder_notices(database: Database, tenants: tuple[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    acme, _ = tenants
    monkeypatch.setenv("DECISIONFORM_LOCK_TTL", "1")
    lock = LeaseLock(database, acme, "state push")
    lock.acquire()
    try:
        info = unlock(database, lock.lock_id)
        assert (info.lock_id, info.operation, info.pid) == (lock.lock_id, "state push", os.getpid())
        assert list_locks(database) == []
        deadline = time.monotonic() + 5
        while not lock.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock.lost  # the renewal found its row gone
        with LeaseLock(database, acme, "apply", timeout=0):
            pass
    finally:
        lock.release()
    with pytest.raises(UsageError, match="lck_nope"):
        unlock(database, "lck_nope")


def test_tenants_never_share_a_lease(database: Database, tenants: tuple[str, str]) -> None:
    acme, globex = tenants
    with LeaseLock(database, acme, "apply") as a, LeaseLock(database, globex, "apply", timeout=0) as g:
        assert {i.lock_id for i in list_locks(database)} == {a.lock_id, g.lock_id}
        assert [i.lock_id for i in list_locks(database, globex)] == [g.lock_id]
        with pytest.raises(LockedError):
            LeaseLock(database, globex, "apply", timeout=0).acquire()
    assert list_locks(database) == []


def _race(database: Database, tenant_id: str, takers: int, warn: Callable[[str], None]) -> list[object]:
    """``takers`` threads try to take the lease at the same instant; their outcomes."""
    barrier = threading.Barrier(takers)
    outcomes: list[object] = [None] * takers
    held: list[LeaseLock] = []

    def take(i: int) -> None:
        lock = LeaseLock(database, tenant_id, "apply", timeout=0, warn=warn)
        barrier.wait()
        try:
            lock.acquire()
            outcomes[i] = "taken"
            held.append(lock)
        except DecisionformError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=take, args=(i,)) for i in range(takers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for lock in held:
        lock.release()
    return outcomes


@pytest.mark.parametrize("existing", ["none", "expired"])
def test_takers_at_the_same_instant_leave_exactly_one_holder(database: Database, tenants: tuple[str, str],
                                                             existing: str) -> None:
    acme, _ = tenants
    for _round in range(3):
        if existing == "expired":
            _plant(database, acme, expired=True)
        warnings: list[str] = []
        outcomes = _race(database, acme, 6, warnings.append)
        assert outcomes.count("taken") == 1, outcomes
        for outcome in outcomes:
            if outcome != "taken":
                assert isinstance(outcome, LockedError), outcome
                assert str(outcome).startswith("state is locked by"), outcome
        assert len(warnings) == (1 if existing == "expired" else 0), warnings
        with database.read() as conn:
            assert conn.execute(select(gitops_locks)).all() == []


def test_durations_and_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_duration("60s") == 60 and parse_duration("2m") == 120 and parse_duration("90") == 90
    assert parse_duration("500ms") == 0.5 and parse_duration(" 1.5S ") == 1.5 and parse_duration("1h") == 3600
    for bad in ("soon", "-1s", ""):
        with pytest.raises(UsageError):
            parse_duration(bad)
    monkeypatch.setenv("DECISIONFORM_LOCK_TTL", "3")
    assert lease_ttl() == 3
    monkeypatch.setenv("DECISIONFORM_LOCK_TTL", "ten")
    with pytest.raises(UsageError, match="DECISIONFORM_LOCK_TTL"):
        lease_ttl()
    monkeypatch.delenv("DECISIONFORM_LOCK_TTL")
    assert lease_ttl() == 60
