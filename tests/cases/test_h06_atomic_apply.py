"""H06 failed-apply-atomic (CLI parts A-E), on SQLite and PostgreSQL.

An apply is one transaction: when any statement fails (the handed triggers on the offer
insert, the state write and the audit write; our own on the first update, a later update,
a soft delete and a channel's placements) or the process is killed with SIGKILL, nothing
is written — no row, no state, no audit row, no lock left — and the plan is not used up.
With a state file the file is only replaced after the commit, and a path that cannot be
written fails before any row is. Part E runs the real CLI as a subprocess and kills it;
the default suite kills once per backend while it holds the lease, the README's delays
(0.3 … 2.5 s, with the database state and a state file) run with DECISIONFORM_STRESS=1.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from h_support import (
    RawSql,
    Snapshot,
    assert_nothing_written,
    assert_refused,
    ops_of,
    run_subprocess,
    snapshot,
    stale_or_applied,
    summary_of,
)

from support import CliEnv, case_file

CASE = "H06-failed-apply-atomic"
BASE = case_file(CASE, "base.yaml")
BUNDLE = case_file(CASE, "bundle.yaml")
CAT = ("Category", "Credit Cards")
OLD_DESCRIPTION = "Revolving credit products"
NEW_DESCRIPTION = "Credit cards for 2026"
OFFERS = ["Alpha Offer", "Beta Offer", "Boom Offer"]
TTL = {"DECISIONFORM_LOCK_TTL": "3"}


def S(created: int = 0, updated: int = 0, deleted: int = 0, unchanged: int = 0) -> dict[str, int]:
    return {"created": created, "updated": updated, "deleted": deleted, "unchanged": unchanged}


@pytest.fixture
def sql(cli: CliEnv) -> RawSql:
    return RawSql(cli.url)


@pytest.fixture
def base(cli: CliEnv) -> CliEnv:
    """Setup of every part: a fresh database with base.yaml applied."""
    cli.ok("apply", BASE, "--auto-approve")
    return cli


def offers(cli: CliEnv) -> list[str]:
    return sorted(name for kind, name in cli.exported() if kind == "Offer")


def assert_untouched_base(cli: CliEnv) -> None:
    rows = cli.exported()
    assert sorted(rows) == [CAT]
    assert rows[CAT]["spec"]["description"] == OLD_DESCRIPTION


def assert_bundle_applied(cli: CliEnv) -> None:
    rows = cli.exported()
    assert rows[CAT]["spec"]["description"] == NEW_DESCRIPTION
    assert offers(cli) == OFFERS


def assert_converged(cli: CliEnv, *state: str) -> None:
    assert cli.run("plan", BUNDLE, "--detailed-exitcode", *state).code == 0
    if not state:
        assert cli.run("refresh", "--detailed-exitcode").code == 0


def failing_apply(cli: CliEnv, sql: RawSql, *args: str, state_file: str | None = None, word: str = "injected failure",
                  ) -> Snapshot:
    """Run an apply that must fail with the database's reason and write nothing."""
    before = snapshot(cli, sql, state_file)
    assert_refused(cli.run(*args), word)
    after = snapshot(cli, sql, state_file)
    assert_nothing_written(before, after)
    return after


# ---------------------------------------------------------------- our own failure points
def install_failure(sql: RawSql, name: str, table: str, event: str, condition: str = "1 = 1") -> None:
    """A trigger making ``event`` on ``table`` fail with 'injected failure <name>' when ``condition``."""
    message = f"injected failure {name}"
    if sql.dialect == "sqlite":
        sql.script(f"CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {condition}\n"
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END;")
        return
    sql.script(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
               f"BEGIN IF {condition} THEN RAISE EXCEPTION '{message}'; END IF; RETURN NEW; END $$;\n"
               f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}();")


def remove_failure(sql: RawSql, name: str, table: str) -> None:
    if sql.dialect == "sqlite":
        sql.script(f"DROP TRIGGER IF EXISTS {name};")
    else:
        sql.script(f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();")


# ====================================================================== A
def test_a_a_statement_fails_in_the_middle(base: CliEnv, sql: RawSql) -> None:
    cli = base
    sql.install(CASE, "fail-offer")
    planned = cli.ok("plan", BUNDLE, "--out", "p.out", "--format", "json")
    assert summary_of(planned) == S(created=3, updated=1)
    assert ops_of(planned)[0] == ("Category", "Credit Cards", "update")

    first = failing_apply(cli, sql, "apply", "p.out")
    assert_untouched_base(cli)
    assert summary_of(cli.ok("plan", BUNDLE, "--format", "json")) == S(created=3, updated=1)

    assert failing_apply(cli, sql, "apply", "p.out").state == first.state

    sql.install(CASE, "remove")
    cli.ok("apply", "p.out")
    assert_bundle_applied(cli)
    assert_converged(cli)

    before = snapshot(cli, sql)
    stale_or_applied(cli.run("apply", "p.out"))
    assert_nothing_written(before, snapshot(cli, sql))


# ====================================================================== B, C
@pytest.mark.parametrize("failure", ["fail-state", "fail-audit"])
def test_b_c_the_state_or_audit_write_fails(base: CliEnv, sql: RawSql, failure: str) -> None:
    cli = base
    sql.install(CASE, failure)
    failing_apply(cli, sql, "apply", BUNDLE, "--auto-approve")
    assert_untouched_base(cli)

    sql.install(CASE, "remove")
    cli.ok("apply", BUNDLE, "--auto-approve")
    assert_bundle_applied(cli)
    assert_converged(cli)


# ====================================================================== D
def test_d_the_state_file_cannot_be_written(base: CliEnv, sql: RawSql) -> None:
    cli = base
    (cli.cwd / "blocked").touch()
    before = snapshot(cli, sql)
    refused = cli.run("apply", BUNDLE, "--auto-approve", "--state", "blocked/state.json")
    assert_refused(refused, "blocked/state.json")
    assert_nothing_written(before, snapshot(cli, sql))
    assert (cli.cwd / "blocked").read_bytes() == b""


@pytest.mark.parametrize("path", ["statedir", "missing/state.json"])
def test_d_other_unwritable_state_paths(base: CliEnv, sql: RawSql, path: str) -> None:
    """A directory where the file should be; a folder that does not exist."""
    cli = base
    (cli.cwd / "statedir").mkdir()
    before = snapshot(cli, sql)
    assert_refused(cli.run("apply", BUNDLE, "--auto-approve", "--state", path), path)
    assert_nothing_written(before, snapshot(cli, sql))
    assert not (cli.cwd / "missing").exists()
    assert list((cli.cwd / "statedir").iterdir()) == []


# ====================================================================== other failure points
def test_failure_at_the_first_write(base: CliEnv, sql: RawSql) -> None:
    cli = base
    install_failure(sql, "df_fail_category", "categories", "UPDATE")
    cli.ok("plan", BUNDLE, "--out", "p.out")
    failing_apply(cli, sql, "apply", "p.out")
    assert_untouched_base(cli)
    remove_failure(sql, "df_fail_category", "categories")
    cli.ok("apply", "p.out")
    assert_bundle_applied(cli)
    assert_converged(cli)


UPDATES = """\
manifest: {apiVersion: decisionform/v1, tenant: acme}
resources:
  - {apiVersion: decisionform/v1, kind: Category, metadata: {name: Credit Cards},
     spec: {description: Revolving credit products, status: active, ordinal: 1}}
  - {apiVersion: decisionform/v1, kind: Offer, metadata: {name: Alpha Offer},
     spec: {category: Credit Cards, status: active, priority: 11}}
  - {apiVersion: decisionform/v1, kind: Offer, metadata: {name: Beta Offer},
     spec: {category: Credit Cards, status: active, priority: 21}}
  - {apiVersion: decisionform/v1, kind: Offer, metadata: {name: Boom Offer},
     spec: {category: Credit Cards, status: active, priority: 31}}
"""


def test_failure_at_a_later_update(base: CliEnv, sql: RawSql) -> None:
    cli = base
    cli.ok("apply", BUNDLE, "--auto-approve")
    (cli.cwd / "updates.yaml").write_text(UPDATES)
    install_failure(sql, "df_fail_beta", "offers", "UPDATE", "NEW.name = 'Beta Offer'")
    planned = cli.ok("plan", "updates.yaml", "--out", "p.out", "--format", "json")
    assert summary_of(planned) == S(updated=4)
    failing_apply(cli, sql, "apply", "p.out")
    assert_bundle_applied(cli)  # every value as before the failed apply
    assert {n: r["spec"]["priority"] for (k, n), r in cli.exported().items() if k == "Offer"} == \
        {"Alpha Offer": 10, "Beta Offer": 20, "Boom Offer": 30}

    remove_failure(sql, "df_fail_beta", "offers")
    cli.ok("apply", "p.out")
    assert cli.run("plan", "updates.yaml", "--detailed-exitcode").code == 0
    assert cli.run("refresh", "--detailed-exitcode").code == 0


def test_failure_at_a_delete(base: CliEnv, sql: RawSql) -> None:
    """A prune's soft delete (an UPDATE setting deleted_at) fails after the update ran."""
    cli = base
    cli.ok("apply", BUNDLE, "--auto-approve")
    doc = BUNDLE.read_text().split("  - apiVersion: decisionform/v1\n    kind: Offer\n    metadata: {name: Boom")[0]
    (cli.cwd / "without-boom.yaml").write_text(doc.replace(NEW_DESCRIPTION, "Cards (pruned)"))
    install_failure(sql, "df_fail_delete", "offers", "UPDATE", "NEW.deleted_at IS NOT NULL")
    planned = cli.ok("plan", "without-boom.yaml", "--prune", "--out", "p.out", "--format", "json")
    assert ops_of(planned) == [("Category", "Credit Cards", "update"), ("Offer", "Boom Offer", "delete")]

    failing_apply(cli, sql, "apply", "p.out")
    assert_bundle_applied(cli)

    remove_failure(sql, "df_fail_delete", "offers")
    cli.ok("apply", "p.out")
    assert offers(cli) == ["Alpha Offer", "Beta Offer"]
    assert cli.run("plan", "without-boom.yaml", "--prune", "--detailed-exitcode").code == 0
    assert cli.run("refresh", "--detailed-exitcode").code == 0


CHANNEL = """\
  - apiVersion: decisionform/v1
    kind: Channel
    metadata: {name: Email}
    spec: {channelType: email, status: active, placements: [{name: Hero}, {name: Footer}]}
"""


def test_failure_in_a_child_table(base: CliEnv, sql: RawSql) -> None:
    """The channel row is written, then one of its placements fails: the channel goes too."""
    cli = base
    (cli.cwd / "channel.yaml").write_text(BUNDLE.read_text() + CHANNEL)
    install_failure(sql, "df_fail_placement", "placements", "INSERT", "NEW.name = 'Footer'")
    cli.ok("plan", "channel.yaml", "--out", "p.out")
    failing_apply(cli, sql, "apply", "p.out")
    assert_untouched_base(cli)
    assert sql.versions()["placements"] == []

    remove_failure(sql, "df_fail_placement", "placements")
    cli.ok("apply", "p.out")
    assert cli.exported()[("Channel", "Email")]["spec"]["placements"][1]["name"] == "Footer"
    assert cli.run("plan", "channel.yaml", "--detailed-exitcode").code == 0


@pytest.mark.parametrize("failure", ["fail-offer", "fail-audit"])
@pytest.mark.parametrize("existing", [False, True], ids=["new-state-file", "existing-state-file"])
def test_failure_with_a_state_file(base: CliEnv, sql: RawSql, failure: str, existing: bool) -> None:
    """The file backend: the state file is neither created nor changed, and no temporary file is left."""
    cli = base
    state = ("--state", "s.json")
    if existing:
        cli.ok("apply", BASE, "--auto-approve", *state)  # adopts the category into s.json
        assert (cli.cwd / "s.json").exists()
    sql.install(CASE, failure)
    cli.ok("plan", BUNDLE, "--out", "p.out", *state)

    failing_apply(cli, sql, "apply", "p.out", *state, state_file="s.json")
    assert (cli.cwd / "s.json").exists() == existing
    assert [p.name for p in cli.cwd.iterdir() if "s.json" in p.name and p.name != "s.json"] == [], \
        "a temporary state file was left"
    assert_untouched_base(cli)

    sql.install(CASE, "remove")
    cli.ok("apply", "p.out", *state)
    assert_bundle_applied(cli)
    assert_converged(cli, *state)


# ====================================================================== E
BIG = 20_000
BULK = "Bulk Offer "


def write_big(where: Path) -> Path:
    resources = [{"apiVersion": "decisionform/v1", "kind": "Offer", "metadata": {"name": f"{BULK}{i:05d}"},
                  "spec": {"category": "Credit Cards", "status": "draft", "priority": i % 101, "tags": ["bulk"]}}
                 for i in range(BIG)]
    path = where / "big.json"
    path.write_text(json.dumps({"manifest": {"apiVersion": "decisionform/v1", "tenant": "acme"},
                                "resources": resources}))
    return path


def bulk_counts(cli: CliEnv, sql: RawSql) -> tuple[int, int]:
    """(Bulk Offers in the export, Bulk Offer rows live in SQL), after checking no name is there twice."""
    names = [n for n in sql.live_names("Offer") if n.startswith(BULK)]
    assert len(names) == len(set(names)), "a name appears twice"
    exported = [r["metadata"]["name"] for r in cli.export()["resources"]
                if r["kind"] == "Offer" and r["metadata"]["name"].startswith(BULK)]
    assert len(exported) == len(set(exported))
    return len(exported), len(names)


def kill_mid_apply(cli: CliEnv, sql: RawSql, delay: float | None, state: tuple[str, ...]) -> bool:
    """Part E for one delay; ``delay`` None: kill a moment after the apply took the lease.

    Returns whether the killed run still held the lease (then the next apply waited for it)."""
    cli.ok("apply", BASE, "--auto-approve", *state)
    write_big(cli.cwd)
    planned = cli.ok("plan", "big.json", "--out", "big.out", "--format", "json", *state)
    assert summary_of(planned) == S(created=BIG)

    proc = run_subprocess(cli, "apply", "big.out", *state, **TTL)
    try:
        if delay is None:
            deadline = time.monotonic() + 120
            while not sql.locks() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert proc.poll() is None, "the apply ended before it could be killed"
            time.sleep(0.3)
        else:
            time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stderr is not None:
            err = proc.stderr.read().decode()
            proc.stderr.close()
            assert "Traceback" not in err, err
    assert proc.returncode == -signal.SIGKILL or proc.returncode == 0
    dead = sql.locks()

    exported, live = bulk_counts(cli, sql)
    assert exported == live and live in (0, BIG), f"{live} of {BIG} offers after the kill"
    if not state:
        drift = cli.run("refresh", "--format", "json", "--detailed-exitcode")
        assert drift.code == 0, drift
        assert drift.json()["summary"] == {"changed": 0, "deleted": 0, "unmanaged": 0}
    if dead:
        held = cli.ok("lock", "list").out
        assert f"pid {proc.pid}" in held, held

    started = time.monotonic()
    applied = cli.run("apply", "big.json", "--auto-approve", "--lock-timeout", "120s", *state, **TTL)
    assert applied.code == 0, applied
    assert "already exists" not in applied.err.lower() and "unique" not in applied.err.lower(), applied.err
    assert time.monotonic() - started < 60
    assert bulk_counts(cli, sql) == (BIG, BIG)
    assert cli.run("plan", "big.json", "--detailed-exitcode", *state).code == 0
    assert cli.ok("lock", "list").out.strip() == "No locks held."
    return bool(dead)


def test_e_killed_while_holding_the_lease(cli: CliEnv, sql: RawSql) -> None:
    assert kill_mid_apply(cli, sql, None, ()), "the kill was meant to leave a dead holder's lease"


STRESS = pytest.mark.skipif(not os.environ.get("DECISIONFORM_STRESS"), reason="set DECISIONFORM_STRESS=1")


@pytest.mark.slow
@STRESS
def test_e_killed_while_holding_the_lease_with_a_state_file(cli: CliEnv, sql: RawSql) -> None:
    assert kill_mid_apply(cli, sql, None, ("--state", "s.json"))


@pytest.mark.slow
@STRESS
@pytest.mark.parametrize("state", [(), ("--state", "s.json")], ids=["db-state", "state-file"])
@pytest.mark.parametrize("delay", [0.3, 0.6, 1.0, 1.5, 2.5])
def test_e_killed_after_a_delay(cli: CliEnv, sql: RawSql, delay: float, state: tuple[str, ...]) -> None:
    kill_mid_apply(cli, sql, delay, state)


# ====================================================================== PostgreSQL: commit, connection, Ctrl-C
# PostgreSQL only (deferred triggers, pg_sleep, pg_terminate_backend): overrides the ``backend`` fixture.
PG_ONLY = pytest.mark.parametrize("backend", [pytest.param("postgresql", id="postgresql",
                                                           marks=pytest.mark.postgres)])


@PG_ONLY
@pytest.mark.parametrize("state", [(), ("--state", "s.json")], ids=["db-state", "state-file"])
def test_failure_at_commit(base: CliEnv, sql: RawSql, state: tuple[str, ...]) -> None:
    """A deferred constraint fails only at COMMIT, after every write and the state were staged."""
    cli = base
    sql.script("CREATE FUNCTION df_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$\n"
               "BEGIN IF NEW.name = 'Boom Offer' THEN RAISE EXCEPTION 'injected failure at commit'; END IF;"
               " RETURN NULL; END $$;\n"
               "CREATE CONSTRAINT TRIGGER df_fail_commit AFTER INSERT ON offers DEFERRABLE INITIALLY DEFERRED"
               " FOR EACH ROW EXECUTE FUNCTION df_fail_commit();")
    cli.ok("plan", BUNDLE, "--out", "p.out", *state)
    failing_apply(cli, sql, "apply", "p.out", *state, state_file="s.json" if state else None)
    assert not (cli.cwd / "s.json").exists()
    assert_untouched_base(cli)

    sql.script("DROP TRIGGER df_fail_commit ON offers; DROP FUNCTION df_fail_commit();")
    cli.ok("apply", "p.out", *state)
    assert_bundle_applied(cli)
    assert_converged(cli, *state)


SLOW_BOOM = ("CREATE FUNCTION df_slow_boom() RETURNS trigger LANGUAGE plpgsql AS $$\n"
             "BEGIN IF NEW.name = 'Boom Offer' THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$;\n"
             "CREATE TRIGGER df_slow_boom BEFORE INSERT ON offers FOR EACH ROW EXECUTE FUNCTION df_slow_boom();")


def _sleeping_backend(sql: RawSql, deadline: float = 60) -> int:
    """The pid of the server process stuck in the slow trigger (the apply is mid-transaction)."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        rows = sql.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                         "AND wait_event = 'PgSleep'")
        if rows:
            return int(rows[0][0])
        time.sleep(0.05)
    raise AssertionError("the apply never reached the slow insert")


@PG_ONLY
@pytest.mark.parametrize("interruption", ["lost-connection", "ctrl-c"])
def test_interrupted_mid_transaction(base: CliEnv, sql: RawSql, interruption: str) -> None:
    """The connection is cut (the server ends it) or the user presses Ctrl-C half-way through."""
    cli = base
    sql.script(SLOW_BOOM)
    cli.ok("plan", BUNDLE, "--out", "p.out")
    before = snapshot(cli, sql)

    proc = run_subprocess(cli, "apply", "p.out", **TTL)
    try:
        backend_pid = _sleeping_backend(sql)
        if interruption == "lost-connection":
            sql.execute("SELECT pg_terminate_backend(:pid)", pid=backend_pid)
        else:
            proc.send_signal(signal.SIGINT)
        _, err_bytes = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = err_bytes.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    if interruption == "ctrl-c":
        assert "Interrupted during the apply: it took effect entirely or not at all" in err, err
    assert sql.locks() == [], "the lock must be released at once, not left to expire"
    assert_nothing_written(before, snapshot(cli, sql))
    assert_untouched_base(cli)

    sql.script("DROP TRIGGER df_slow_boom ON offers; DROP FUNCTION df_slow_boom();")
    cli.ok("apply", "p.out")
    assert_bundle_applied(cli)
    assert_converged(cli)
