"""Per-tenant lease locks in the ``gitops_locks`` table.

A lease (not a session-scoped advisory lock) so that it works the same on
SQLite, on PostgreSQL and behind a transaction-mode connection pooler: the
holder writes a row with an expiry and renews it from a background thread;
a crashed holder stops renewing and its lease runs out by itself.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from decisionform.errors import DatabaseError, LockedError, UsageError
from decisionform.providers.schema import metadata, tenants

DEFAULT_TTL = 60.0
POLL_SECONDS = 0.25


def lease_ttl() -> float:
    raw = os.environ.get("DECISIONFORM_LOCK_TTL", "")
    try:
        return max(1.0, float(raw)) if raw else DEFAULT_TTL
    except ValueError as exc:
        raise UsageError(f"DECISIONFORM_LOCK_TTL must be a number of seconds, not {raw!r}") from exc


def parse_duration(text: str) -> float:
    """``60s``, ``2m``, ``1.5``, ``500ms`` → seconds (for ``--lock-timeout``)."""
    value = text.strip().lower()
    for suffix, factor in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if value.endswith(suffix):
            value, scale = value[: -len(suffix)], factor
            break
    else:
        scale = 1.0
    try:
        seconds = float(value) * scale
    except ValueError as exc:
        raise UsageError(f"invalid duration {text!r}: use e.g. 30s, 2m or 90") from exc
    if seconds < 0:
        raise UsageError(f"invalid duration {text!r}: must not be negative")
    return seconds


def whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass
class LockInfo:
    lock_id: str
    tenant_id: str
    holder: str
    host: str
    pid: int
    operation: str
    plan_id: str | None
    acquired_at: datetime
    expires_at: datetime
    tenant: str | None = None  # the tenant's name, where the reader joined it

    def expired(self, now: datetime) -> bool:
        return _aware(self.expires_at) <= now

    def describe(self) -> str:
        plan = f", plan {self.plan_id}" if self.plan_id else ""
        return (f"{self.holder} (host {self.host}, pid {self.pid}, {self.operation}{plan}) "
                f"since {_aware(self.acquired_at):%Y-%m-%dT%H:%M:%SZ}, "
                f"lease expires {_aware(self.expires_at):%Y-%m-%dT%H:%M:%SZ}; lock id {self.lock_id}")

    def as_dict(self) -> dict[str, Any]:
        return {"lockId": self.lock_id, "tenantId": self.tenant_id, "tenant": self.tenant, "holder": self.holder, "host": self.host,
                "pid": self.pid, "operation": self.operation, "planId": self.plan_id,
                "acquiredAt": _aware(self.acquired_at).isoformat(), "expiresAt": _aware(self.expires_at).isoformat()}


def _info(row: Any) -> LockInfo:
    return LockInfo(**{k: row[k] for k in LockInfo.__dataclass_fields__ if k in row})


class _Raced(Exception):
    """Another taker changed the lease row between our read and our write."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class LeaseLock:
    """Hold the tenant's lease for the duration of a ``with`` block."""

    def __init__(self, database: Any, tenant_id: str, operation: str, *, plan_id: str | None = None,
                 timeout: float = 0.0, warn: Callable[[str], None] | None = None) -> None:
        self.database = database
        self.tenant_id = tenant_id
        self.operation = operation
        self.plan_id = plan_id
        self.timeout = timeout
        self.ttl = lease_ttl()
        self.warn = warn or (lambda _msg: None)
        self.lock_id = "lck_" + secrets.token_hex(8)
        self.table = metadata.tables["gitops_locks"]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def __enter__(self) -> LeaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            holder = self._try_take()
            if holder is None:
                break
            if time.monotonic() >= deadline:
                # Said to CLI and HTTP callers alike: no flag a request cannot pass.
                raise LockedError(f"state is locked by {holder.describe()}. Retry when it ends (the CLI can "
                                  "wait: --lock-timeout 60s), or if that run is dead: "
                                  f"decisionform lock unlock {holder.lock_id}")
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())) or POLL_SECONDS)
        self._thread = threading.Thread(target=self._renew_loop, name="decisionform-lease", daemon=True)
        self._thread.start()

    def _try_take(self) -> LockInfo | None:
        """Take the lease if free or expired; else return who holds it."""
        while True:
            try:
                return self._take_once()
            except _Raced:
                continue  # another taker won or let go at the same instant: look again

    def _take_once(self) -> LockInfo | None:
        t = self.table
        now = datetime.now(UTC)
        try:
            with self.database.write() as conn:
                row = conn.execute(select(t).where(t.c.tenant_id == self.tenant_id)).mappings().first()
                values = {"lock_id": self.lock_id, "holder": whoami(), "host": socket.gethostname(),
                          "pid": os.getpid(), "operation": self.operation, "plan_id": self.plan_id,
                          "acquired_at": now, "expires_at": now + timedelta(seconds=self.ttl)}
                if row is None:
                    conn.execute(insert(t).values(tenant_id=self.tenant_id, **values))
                    return None
                info = _info(row)
                if not info.expired(now):
                    return info
                # Conditional on the expired holder: of two takers only one updates the row
                # (PostgreSQL re-checks the condition after the other's commit).
                result = conn.execute(update(t).where(t.c.tenant_id == self.tenant_id,
                                                      t.c.lock_id == info.lock_id).values(**values))
                if result.rowcount != 1:
                    raise _Raced
        except DatabaseError as exc:
            # Only a unique violation is a race (a row inserted at the same instant).
            if isinstance(exc.__cause__, IntegrityError):
                raise _Raced from exc
            raise
        self.warn(f"took over an expired lock: {info.describe()}")
        return None

    def _renew_loop(self) -> None:
        interval = self.ttl / 3
        while not self._stop.wait(interval):
            try:
                with self.database.write() as conn:
                    t = self.table
                    result = conn.execute(update(t).where(t.c.lock_id == self.lock_id).values(
                        expires_at=datetime.now(UTC) + timedelta(seconds=self.ttl)))
                    if result.rowcount == 0:
                        self.lost = True
                        return
            except Exception:  # a renewal that fails is retried on the next tick
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        t = self.table
        # why: a failed release (a dropped connection, a database error at the DELETE or its
        # COMMIT) used to be swallowed in silence: the apply had committed and exited 0, yet its
        # lease blocked every other apply of the tenant until it expired, with nothing saying why
        # (tests/hardening/test_fault_positions.py). Retry once, then warn; never fail the command.
        for attempt in range(2):
            try:
                with self.database.write() as conn:
                    conn.execute(delete(t).where(t.c.lock_id == self.lock_id))
                return
            except DatabaseError as exc:
                if attempt:
                    self.warn(f"could not release lock {self.lock_id} ({exc}); it expires by itself within "
                              f"{self.ttl:g} s, or run: decisionform lock unlock {self.lock_id}")


def list_locks(database: Any, tenant_id: str | None = None) -> list[LockInfo]:
    t = metadata.tables["gitops_locks"]
    query = select(t, tenants.c.name.label("tenant")).join(tenants, tenants.c.id == t.c.tenant_id)
    if tenant_id is not None:
        query = query.where(t.c.tenant_id == tenant_id)
    with database.read() as conn:
        rows = conn.execute(query.order_by(t.c.acquired_at)).mappings().all()
    return [_info(r) for r in rows]


def unlock(database: Any, lock_id: str) -> LockInfo:
    t = metadata.tables["gitops_locks"]
    with database.write() as conn:
        row = conn.execute(select(t).where(t.c.lock_id == lock_id)).mappings().first()
        if row is None:
            raise UsageError(f"no lock with id {lock_id!r} (see `decisionform lock list`)")
        conn.execute(delete(t).where(t.c.lock_id == lock_id))
    return _info(row)


@contextlib.contextmanager
def no_lock() -> Iterator[None]:
    yield
