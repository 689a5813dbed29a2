"""Leases and applies behind a transaction-mode connection pooler (PgBouncer).

In transaction mode consecutive transactions of one client connection may
run on different server connections, so nothing may rely on session state:
no session advisory locks and no server-side prepared statements (psycopg
prepares a query it has run a few times, and the pooler then reports
``prepared statement "_pg3_0" already exists``). Skipped where ``pgbouncer``
is not installed (Debian: ``apt-get install pgbouncer``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from decisionform.errors import LockedError
from decisionform.providers.database import Database, tenant_id
from decisionform.state.locks import LeaseLock, list_locks
from oob_helpers import assert_clean_failure, offer_priority, run_at_once, serial
from support import CliEnv, case_file

PGBOUNCER = shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if os.path.exists(p)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pooled_url(backend: str, new_db_url: Callable[[], str]) -> Iterator[str]:
    """A fresh PostgreSQL database reached through PgBouncer in transaction mode."""
    if backend != "postgresql":
        pytest.skip("a PostgreSQL pooler")
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    direct = make_url(new_db_url())
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="df-pgbouncer-"))
    folder.chmod(0o755)
    (folder / "users.txt").write_text(f'"{direct.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n* = host={direct.host} port={direct.port or 5432}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\npool_mode = transaction\n"
        "default_pool_size = 3\nmax_client_conn = 200\nignore_startup_parameters = extra_float_digits,options\n")
    for path in folder.iterdir():
        path.chmod(0o644)
    command = [PGBOUNCER, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(folder / "pgbouncer.ini")]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("pgbouncer did not start")
                time.sleep(0.05)
        yield direct.set(port=port).render_as_string(hide_password=False)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pooled(pooled_url: str, tmp_path: Path) -> CliEnv:
    cli = CliEnv(url=pooled_url, tenant="acme", cwd=tmp_path)
    cli.ok("db", "upgrade")
    cli.ok("tenant", "create", "acme")
    for name in ("base.yaml", "bundle-a.yaml"):
        shutil.copy(case_file("H07-lock-contention", name), tmp_path / name)
    cli.ok("apply", "base.yaml", "--auto-approve")
    return cli


def test_concurrent_applies_through_the_pooler(pooled: CliEnv) -> None:
    s0 = serial(pooled)
    text = (pooled.cwd / "bundle-a.yaml").read_text()
    for round_ in range(2):
        first = 61 + 10 * round_  # every run changes Gold Card's priority
        names = []
        for p in range(first, first + 6):
            (pooled.cwd / f"p{p}.yaml").write_text(text.replace("priority: 60", f"priority: {p}"))
            names.append(f"p{p}.yaml")
        wait = ("--lock-timeout", "60s") if round_ == 0 else ()
        results = run_at_once(pooled, [("apply", n, "--auto-approve", *wait) for n in names],
                              DECISIONFORM_LOCK_TTL="1")
        for result in results:
            if result.code != 0:
                assert_clean_failure(result)
        successes = sum(r.code == 0 for r in results)
        assert successes >= 1 and serial(pooled) == s0 + successes, results
        s0 += successes
        assert offer_priority(pooled, "Gold Card") in {first + i for i, r in enumerate(results) if r.code == 0}
    assert pooled.ok("lock", "list").out.strip() == "No locks held."


def test_a_lease_is_renewed_through_the_pooler(pooled: CliEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECISIONFORM_LOCK_TTL", "1")
    db = Database(pooled.url)
    try:
        with db.read() as conn:
            acme = tenant_id(conn, "acme")
        with LeaseLock(db, acme, "apply") as lock:
            time.sleep(2.5)  # a renewal every third of a second: well past psycopg's prepare threshold
            assert not lock.lost and [i.lock_id for i in list_locks(db)] == [lock.lock_id]
            with pytest.raises(LockedError):
                LeaseLock(db, acme, "apply", timeout=0).acquire()
        assert list_locks(db) == []
    finally:
        db.dispose()
