"""kill -9 a real ``decisionform apply`` at random moments; the database must never be half-applied.

    python tests/hardening/killtest.py --kills N --db sqlite|postgresql [--seed S] [--size R]

Builds its own database (a SQLite file, or a fresh ``df_kill_…`` PostgreSQL database
on the test server, dropped at the end), applies a generated bundle of ``--size``
resources (``bench/generate.py``: every kind, realistic references), then for each
kill moves between three bundles (``changed``: 10% updated; ``pruned``: 10% deleted
with ``--prune``; ``base`` again: the deleted rows restored and the edits undone),
each time as a saved plan or as ``--auto-approve`` (chosen at random):

1. start ``decisionform apply`` as a real subprocess (this script in ``--child``
   mode: the real CLI, plus a log of every transaction boundary and statement it
   sends, appended unbuffered to a file so that it survives the kill), with a
   1 s lease (``DECISIONFORM_LOCK_TTL``) so that a dead holder's lease runs out fast;
2. SIGKILL it after a random delay: drawn inside the span before the write
   transaction, the transaction itself, or after the commit (the spans measured on
   earlier runs), so that every phase gets hit; the log says where it really landed;
3. check: every table (configuration, state, audit) is either exactly as before,
   byte for byte, or exactly what a clean apply of the same change gives on a copy
   of the database taken before the kill (generated ids, timestamps and plan ids
   masked: ``hardening_support.normalised``) — never in between. Killed before the
   transaction began or inside it: exactly as before. Killed after its commit:
   exactly applied. Killed between sending COMMIT and hearing back: either.
   A lease left behind is the dead process's own (its pid);
4. then, without any manual repair (no ``lock unlock``): ``plan`` sees exactly the
   remaining changes, ``refresh`` sees no drift, the audit chain verifies, and the
   same apply (the saved plan again, waiting with ``--lock-timeout`` for a dead
   lease to expire, or "already applied" when the kill came after the commit)
   brings the database to the bundle.

Prints one summary line (``killtest: …``) and exits 0, or prints every problem and
exits 1. ``tests/hardening/test_kill.py`` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
for _p in (HERE, HERE.parent, HERE.parents[1] / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

TRANSITIONS = [("changed", False), ("pruned", True), ("base", True)]  # target bundle, --prune
PHASES = ("before", "during", "commit", "after")
LEASE_TTL = "1"


# ------------------------------------------------------------------ the child: the real CLI, logged
def child(markers: str, argv: list[str]) -> None:
    from hardening_support import watching_sql

    from decisionform.cli import run

    fd = os.open(markers, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def mark(text: str) -> None:  # wall-clock time: the parent measures from the moment it started us
        os.write(fd, f"{time.time():.4f} {text}\n".encode())

    with watching_sql(mark):
        code = run(argv)
    mark(f"EXIT {code}")
    sys.exit(code)


@dataclass
class Landing:
    """Where in the apply the log says the kill came."""

    phase: str = "before"  # before | during | commit | after (see PHASES)
    exited: int | None = None  # the exit code, when it ended by itself first
    begin: float | None = None  # seconds from the start: the write transaction began
    committed: float | None = None  # … its commit returned
    end: float | None = None  # … the command ended
    events: list[str] = field(default_factory=list)


def landing(markers: Path, started: float) -> Landing:
    """Read a child's log (times from ``started``, the parent's ``time.time()`` at the start). The write transaction is the first one begun for writing after the
    lease was taken (a write transaction that inserted or took over the ``gitops_locks`` row)."""
    out = Landing()
    lease_taken = False
    current: list[str] | None = None  # the statements of the transaction in progress
    main: list[str] | None = None
    text = markers.read_text() if markers.exists() else ""  # killed before it opened its log
    for line in text.splitlines():
        stamp, event = line.split(" ", 1)
        t = float(stamp) - started
        out.events.append(event)
        if event.startswith("TX BEGIN"):
            current = []
            if lease_taken and main is None and event.endswith("write"):
                main, out.begin, out.phase = current, t, "during"
        elif event == "COMMIT" and current is not None and current is main:
            out.phase = "commit"
        elif event == "TX COMMITTED":
            if current is not None and current is main:
                out.phase, out.committed = "after", t
            elif current is not None and {"INSERT gitops_locks", "UPDATE gitops_locks"} & set(current):
                lease_taken = True
            current = None
        elif event == "TX ROLLBACK":
            if current is not None and current is main:
                out.phase = "rolled back"
            current = None
        elif event.startswith("EXIT "):
            out.exited, out.end = int(event.split()[1]), t
        elif current is not None:
            current.append(event)
    return out


# ------------------------------------------------------------------ the parent
class Databases:
    """The databases of one run: the working one and a reference copy; dropped at the end."""

    def __init__(self, backend: str, workdir: Path) -> None:
        import psycopg

        self.backend = backend
        self.workdir = workdir
        self.admin = None
        self.created: list[str] = []
        if backend == "postgresql":
            host = os.environ.get("DECISIONFORM_TEST_PG_HOST", "127.0.0.1")
            port = int(os.environ.get("DECISIONFORM_TEST_PG_PORT", "5432"))
            self.server = f"postgresql+psycopg://postgres@{host}:{port}"
            self.admin = psycopg.connect(host=host, port=port, user="postgres", dbname="test", autocommit=True,
                                         connect_timeout=5)

    def new_url(self) -> str:
        name = f"df_kill_{secrets.token_hex(5)}"
        if self.backend == "sqlite":
            return f"sqlite:///{self.workdir / name}.db"
        from psycopg import sql

        assert self.admin is not None
        self.admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return f"{self.server}/{name}"

    def close(self) -> None:
        if self.admin is None:
            return
        from psycopg import sql

        for name in self.created:
            self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.admin.close()


class KillTest:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        from hardening_support import DatabaseCopies

        from support import CliEnv

        self.args = args
        self.rng = random.Random(args.seed)
        self.dbs = Databases(args.db, workdir)
        self.work = self.dbs.new_url()
        self.ref = self.dbs.new_url()
        self.copies = DatabaseCopies(args.db, self.dbs.new_url, self.dbs.admin)
        self.cli = CliEnv(url=self.work, tenant="acme", cwd=workdir)
        self.ref_cli = CliEnv(url=self.ref, tenant="acme", cwd=workdir)
        self.workdir = workdir
        self.problems: list[str] = []
        self.landed: Counter[str] = Counter()
        self.exited_first = 0
        self.commit_applied = 0  # kills while COMMIT was on its way that found it done
        self.leases_taken_over = 0
        self.spans: dict[str, float] = {}  # how long each span took last: before, during, after
        self.counts: dict[str, Counter[str]] = {}

    # -------------------------------------------------------------- setup
    def setup(self) -> None:
        from generate import bundles

        self.cli.ok("db", "upgrade")
        self.cli.ok("tenant", "create", "acme")
        for name, doc in bundles(self.args.size, tenant="acme").items():
            (self.workdir / f"{name}.json").write_text(json.dumps(doc))
            self.counts[name] = Counter(r["kind"] for r in doc["resources"])
        first = self.start("apply", "base.json", "--auto-approve")  # unkilled: the first spans
        assert first[0].wait(timeout=300) == 0, self.output(first)
        self.learn(landing(first[1], first[2]))
        assert self.cli.run("plan", "base.json", "--detailed-exitcode").code == 0

    def start(self, *argv: str) -> tuple[subprocess.Popen[bytes], Path, float]:
        markers = self.workdir / f"markers-{secrets.token_hex(4)}.log"
        env = {**os.environ, **self.cli.env(DECISIONFORM_LOCK_TTL=LEASE_TTL)}
        err = (self.workdir / f"{markers.stem}.err").open("wb")
        now = time.time()
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", str(markers), "--",
                                 *argv], cwd=self.workdir, env=env, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        return proc, markers, now

    def output(self, started: tuple[subprocess.Popen[bytes], Path, float]) -> str:
        path = self.workdir / f"{started[1].stem}.err"
        return path.read_text(errors="replace") if path.exists() else ""

    def learn(self, land: Landing) -> None:
        """Remember how long the phases took (they vary with the machine's load)."""
        if land.begin is not None:
            self.spans["before"] = land.begin
        if land.begin is not None and land.committed is not None:
            self.spans["during"] = land.committed - land.begin
        if land.committed is not None and land.end is not None:
            self.spans["after"] = land.end - land.committed

    def kill_at_random(self, proc: subprocess.Popen[bytes], markers: Path, t0: float) -> str:
        """SIGKILL at a random moment of a randomly chosen span: before the write transaction
        (a delay from the start), inside it, while its COMMIT is on the way, or after the commit
        returned (a delay from the moment the child's log shows it entered that span, so that a
        loaded machine does not skew it).
        Returns the span aimed at; where the kill really landed is read from the log after."""
        span = self.rng.choices(["before", "during", "commit", "after"], weights=[3, 4, 1, 2])[0]
        if span == "before":
            deadline = t0 + self.rng.uniform(0.0, self.spans["before"])
        else:
            deadline = None
            entered = {"during": ("during", "commit", "after"), "commit": ("commit", "after"),
                       "after": ("after",)}[span]
            length = self.spans[span] if span != "commit" else 0.002  # COMMIT sent, its answer due
        while proc.poll() is None:
            now = time.time()
            if deadline is None and landing(markers, t0).phase in entered:
                deadline = now + self.rng.uniform(0.0, length)
            if deadline is not None and now >= deadline:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
        return span

    # -------------------------------------------------------------- one kill
    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def kill_once(self, i: int) -> None:
        from hardening_support import lease_rows, live_rows, table_snapshot

        target, prune = TRANSITIONS[i % len(TRANSITIONS)]
        saved = self.rng.random() < 0.5
        extra = ("--prune",) if prune else ()
        if saved:
            self.cli.ok("plan", f"{target}.json", *extra, "--out", "kill.out")
            argv: tuple[str, ...] = ("apply", "kill.out")
        else:
            argv = ("apply", f"{target}.json", "--auto-approve", *extra)
        where = f"kill {i + 1} ({' '.join(argv)})"
        before = table_snapshot(self.work)
        self.copies.save(self.work, into=self.ref)

        started = self.start(*argv)
        proc, markers, t0 = started
        aimed = self.kill_at_random(proc, markers, t0)
        code = proc.wait(timeout=60)
        land = landing(markers, t0)
        self.learn(land)
        if land.exited is not None:  # it ended by itself (the kill may have come during its exit)
            self.exited_first += 1
            if land.exited != 0 or code not in (0, -signal.SIGKILL):
                self.problem(where, f"ended by itself with {land.exited}/{code}: {self.output(started)}")
        elif code != -signal.SIGKILL:
            self.problem(where, f"exit code {code}, not killed: {self.output(started)}")
        if "Traceback" in self.output(started):
            self.problem(where, self.output(started))
        self.landed[land.phase] += 1
        if self.args.verbose:
            print(f"{where}: aimed {aimed}, landed {land.phase} (transaction {land.begin}..{land.committed}, "
                  f"end {land.end})", flush=True)

        after = table_snapshot(self.work)
        applied = after != before
        expected = {"before": False, "during": False, "after": True}.get(land.phase)
        if land.phase not in PHASES:
            self.problem(where, f"the write transaction ended as {land.phase!r}: {land.events[-6:]}")
        elif expected is not None and applied != expected:
            self.problem(where, f"killed {land.phase} the transaction, yet the tables are "
                                f"{'changed' if applied else 'unchanged'}")
        if applied and land.phase == "commit":
            self.commit_applied += 1
        if applied:
            self.check_fully_applied(where, after, target, extra, argv)
        leases = lease_rows(self.work)
        if leases and [r["pid"] for r in leases] != [proc.pid]:
            self.problem(where, f"a lease that is not the dead apply's: {leases}")
        if leases:
            self.leases_taken_over += 1
        for name in ("changed", "pruned", "base"):  # no name is live twice, whatever happened
            try:
                for kind in self.counts[name]:
                    live_rows(after, kind)
            except AssertionError as exc:
                self.problem(where, str(exc))
        self.recover(where, target, extra, argv, applied, bool(leases))

    def check_fully_applied(self, where: str, after: Any, target: str, extra: tuple[str, ...],
                            argv: tuple[str, ...]) -> None:
        """Equal to a clean apply of the same change on the copy taken before the kill."""
        from hardening_support import diff_tables, live_rows, normalised, table_snapshot

        if argv[1] == "kill.out":  # the saved plan names the working database: make the same one for the copy
            self.ref_cli.ok("plan", f"{target}.json", *extra, "--out", "ref.out")
            self.ref_cli.ok("apply", "ref.out")
        else:
            self.ref_cli.ok(*argv)
        reference = table_snapshot(self.ref)
        got, want = normalised(after), normalised(reference)
        if got != want:
            self.problem(where, f"neither before nor fully applied: {diff_tables(want, got)}")
        for kind, count in self.counts[target].items():
            if len(live_rows(after, kind)) != count:
                self.problem(where, f"{len(live_rows(after, kind))} live {kind} rows, the bundle has {count}")

    def recover(self, where: str, target: str, extra: tuple[str, ...], argv: tuple[str, ...], applied: bool,
                lease_left: bool) -> None:
        """No manual repair: plan, refresh and the same apply work; the audit chain holds."""
        from hardening_support import audit_chain, lease_rows

        plan = self.cli.run("plan", f"{target}.json", *extra, "--detailed-exitcode")
        if plan.code != (0 if applied else 2):
            self.problem(where, f"plan after the kill: exit {plan.code}: {plan.err}")
        drift = self.cli.run("refresh", "--detailed-exitcode")
        if drift.code != 0:
            self.problem(where, f"refresh after the kill: exit {drift.code}: {drift.out[-500:]} {drift.err}")
        again = self.cli.run(*argv, "--lock-timeout", "60s")
        if argv[1] == "kill.out" and applied:
            if again.code != 1 or "already applied" not in again.err:
                self.problem(where, f"the saved plan again: {again}")
        elif again.code != 0:
            self.problem(where, f"the same apply again: {again}")
        if lease_left and again.code == 0 and "took over an expired lock" not in again.err:
            self.problem(where, f"the dead apply's lease was not taken over: {again.err}")
        if self.cli.run("plan", f"{target}.json", *extra, "--detailed-exitcode").code != 0:
            self.problem(where, "the bundle is not fully applied after the recovery")
        if lease_rows(self.work):
            self.problem(where, f"a lease left after the recovery: {lease_rows(self.work)}")
        chain = audit_chain(self.work)
        if not chain.intact:
            self.problem(where, f"the audit chain is broken at row {chain.broken_at_id}")

    def summary(self) -> str:
        during = self.landed["during"] + self.landed["commit"]
        return (f"killtest: {self.args.db}, {self.args.kills} kills (seed {self.args.seed}, {self.args.size} "
                f"resources): {self.landed['before']} before, {during} during "
                f"({self.landed['commit']} at the commit, {self.commit_applied} of them after it took effect), "
                f"{self.landed['after']} after the transaction "
                f"({self.exited_first} had already exited); {self.leases_taken_over} dead leases taken over; "
                + ("every kill left the tables exactly as before or exactly as applied"
                   if not self.problems else f"{len(self.problems)} PROBLEMS"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--size", type=int, default=400, help="resources in the generated bundles")
    parser.add_argument("--workdir", type=Path, default=None, help="(default: a temporary folder)")
    parser.add_argument("--verbose", action="store_true", help="a line per kill")
    parser.add_argument("--child", metavar="MARKERS", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, [a for a in args.rest if a != "--"])
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)

    with tempfile.TemporaryDirectory(prefix="killtest-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        test = KillTest(args, workdir)
        try:
            test.setup()
            for i in range(args.kills):
                test.kill_once(i)
        finally:
            test.dbs.close()
    for problem in test.problems:
        print(f"FAIL {problem}")
    print(test.summary(), flush=True)  # tests/hardening/test_kill.py parses this line
    return 1 if test.problems else 0


if __name__ == "__main__":
    sys.exit(main())
