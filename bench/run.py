"""The benchmark: decisionform against the floor of its own work, side by side, in one run.

    python bench/run.py --sizes 1000,10000,50000 --db sqlite|postgresql|both [--repeat 3]

For each database and size it generates a realistic bundle (``generate.py``),
starts from an empty database and runs every step as its own process, as a
user does (the ``decisionform`` command of this Python environment):

    floor            bench/floor.py: parse the bundle with the fastest parser (yaml-rs) and
                     read the tenant's rows in bulk (one SELECT per table); see floor.py
    validate         decisionform validate BUNDLE
    apply (creates)  decisionform apply BUNDLE --auto-approve          on the empty tenant
    plan (no change) decisionform plan BUNDLE --detailed-exitcode      must exit 0
    plan (10% changed) decisionform plan CHANGED --detailed-exitcode   must exit 2
    export           decisionform export --out FILE
    refresh          decisionform refresh --detailed-exitcode          must exit 0
    apply (10% updates) decisionform apply CHANGED --auto-approve
    apply --prune (10% deletes) decisionform apply PRUNED --auto-approve --prune

For each step: wall time, its ratio to the floor measured in the same run, CPU time,
peak memory (the child's ``ru_maxrss``) and the number of SQL statements it sent
(``DECISIONFORM_COUNT_STATEMENTS``). Each figure is the median of ``--repeat`` runs,
each on a fresh database. The result goes to ``bench/RESULTS.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import counts  # noqa: E402

TENANT = "bench"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    args: tuple[str, ...]  # {base} {changed} {pruned} {export} are filled in
    expect: int = 0  # exit code
    floor: bool = False


STEPS = (
    Step("validate", "validate", ("validate", "{base}")),
    Step("apply_create", "apply: all creates", ("apply", "{base}", "--auto-approve")),
    Step("floor", "floor (parse + bulk read)", (), floor=True),
    Step("plan_same", "plan: no changes", ("plan", "{base}", "--detailed-exitcode")),
    Step("plan_changed", "plan: 10% changed", ("plan", "{changed}", "--detailed-exitcode"), expect=2),
    Step("export", "export", ("export", "--out", "{export}")),
    Step("refresh", "refresh", ("refresh", "--detailed-exitcode")),
    Step("apply_update", "apply: 10% updates", ("apply", "{changed}", "--auto-approve")),
    Step("apply_prune", "apply --prune: 10% deletes", ("apply", "{pruned}", "--auto-approve", "--prune")),
)
SHOWN = ("floor", "validate", "plan_same", "plan_changed", "apply_create", "apply_update", "apply_prune",
         "export", "refresh")


@dataclass
class Measure:
    wall: float
    cpu: float
    peak_mb: float
    statements: int | None


@dataclass
class Cell:
    runs: list[Measure] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        values = [getattr(m, attr) for m in self.runs if getattr(m, attr) is not None]
        return statistics.median(values) if values else None


# ------------------------------------------------------------------ running children
def decisionform_command() -> list[str]:
    script = Path(sys.executable).with_name("decisionform")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from decisionform.cli import main; main()"]


def run_child(argv: list[str], env: dict[str, str], workdir: Path, expect: int, what: str) -> Measure:
    """Run ``argv`` to completion; its wall time, CPU time, peak RSS and statement count."""
    counter = workdir / "statements.json"
    counter.unlink(missing_ok=True)
    env = {**env, "DECISIONFORM_COUNT_STATEMENTS": str(counter)}
    with open(workdir / "stdout.txt", "wb") as out, open(workdir / "stderr.txt", "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=workdir)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != expect:
        tail = (workdir / "stderr.txt").read_text(errors="replace")[-3000:]
        raise SystemExit(f"bench: {what} exited {proc.returncode}, expected {expect}:\n{tail}")
    statements = sum(json.loads(counter.read_bytes()).values()) if counter.exists() else None
    return Measure(wall=wall, cpu=usage.ru_utime + usage.ru_stime, peak_mb=usage.ru_maxrss / 1024,
                   statements=statements)


class Databases:
    """Fresh, empty databases of one kind, dropped afterwards."""

    def __init__(self, kind: str, workdir: Path, pg_url: str) -> None:
        self.kind, self.workdir, self.pg_url = kind, workdir, pg_url
        self.count = 0

    def create(self) -> str:
        self.count += 1
        name = f"dfbench_{os.getpid()}_{self.count}"
        if self.kind == "sqlite":
            return f"sqlite:///{self.workdir / name}.db"
        self._admin(f'CREATE DATABASE "{name}"')
        base = self.pg_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def drop(self, url: str) -> None:
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
            return
        self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def _admin(self, sql: str) -> str:
        return _child_python(ADMIN_SQL, self.pg_url, sql)

    def server_version(self) -> str:
        if self.kind == "sqlite":
            return "SQLite " + _child_python("import sqlite3; print(sqlite3.sqlite_version)")
        return "PostgreSQL " + self._admin("SHOW server_version")


# The runner stays small (no decisionform, no psycopg, no bundle in memory): Linux carries a
# parent's peak RSS over fork + exec into the child's ru_maxrss, so a big runner would inflate
# every measured peak. Generation and database administration run in children of their own.
ADMIN_SQL = """
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    cur = conn.execute(sys.argv[2])
    print(cur.fetchone()[0] if cur.description else "")
"""


def _child_python(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"bench: {code.strip().splitlines()[0]} failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def write_bundles(size: int, workdir: Path) -> dict[str, Path]:
    subprocess.run([sys.executable, str(HERE / "generate.py"), str(size), str(workdir)], check=True)
    return {name: workdir / f"bundle-{size}-{name}.yaml" for name in ("base", "changed", "pruned")}


def bench_size(size: int, dbs: Databases, repeat: int, workdir: Path, log: bool) -> dict[str, Cell]:
    paths = write_bundles(size, workdir)
    cli = decisionform_command()
    fill = {"base": str(paths["base"]), "changed": str(paths["changed"]), "pruned": str(paths["pruned"]),
            "export": str(workdir / "export.yaml")}
    cells = {step.key: Cell() for step in STEPS}
    for run in range(repeat):
        url = dbs.create()
        env = {**os.environ, "DECISIONFORM_DATABASE_URL": url, "DECISIONFORM_TENANT": TENANT,
               "DECISIONFORM_STATE": "db", "NO_COLOR": "1"}
        env.pop("DECISIONFORM_COUNT_STATEMENTS", None)
        try:
            run_child([*cli, "db", "upgrade"], env, workdir, 0, "db upgrade")
            run_child([*cli, "tenant", "create", TENANT], env, workdir, 0, "tenant create")
            for step in STEPS:
                if step.floor:
                    argv = [sys.executable, str(HERE / "floor.py"), fill["base"], url, TENANT]
                else:
                    argv = [*cli, *(a.format(**fill) for a in step.args)]
                measure = run_child(argv, env, workdir, step.expect, f"{dbs.kind} {size} {step.key}")
                cells[step.key].runs.append(measure)
                if log:
                    print(f"  {dbs.kind:10} {size:>6} run {run + 1}/{repeat} {step.key:13} "
                          f"{measure.wall:7.2f} s wall {measure.cpu:7.2f} s cpu {measure.peak_mb:7.0f} MB "
                          f"{measure.statements if measure.statements is not None else '-':>4} statements",
                          file=sys.stderr, flush=True)
        finally:
            dbs.drop(url)
    return cells


# ------------------------------------------------------------------ the report
def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _versions() -> list[str]:
    out = [f"Python {platform.python_version()} ({platform.python_implementation()})"]
    for dist in ("decisionform", "SQLAlchemy", "pydantic", "yaml-rs", "orjson", "psycopg", "networkx", "Jinja2"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out.append(f"{dist} {metadata.version(dist)}")
    return out


def _machine() -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")))
        mem = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return [f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem} RAM"]


def help_startup(workdir: Path, runs: int = 5) -> Cell:
    """``decisionform --help``, start to exit (the issue's bound: under 0.3 s)."""
    cell = Cell()
    for _ in range(runs):
        cell.runs.append(run_child([*decisionform_command(), "--help"], dict(os.environ), workdir, 0, "--help"))
    return cell


def report(results: dict[str, dict[int, dict[str, Cell]]], sizes: list[int], versions: dict[str, str],
           repeat: int, load: tuple[str, str], bundle_mb: dict[int, float], elapsed: float,
           startup: Cell) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python bench/run.py --sizes {','.join(map(str, sizes))} --db "
        f"{'both' if len(results) > 1 else next(iter(results))} --repeat {repeat}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {elapsed / 60:.1f} min.",
        "Every figure is the median of the runs; every step is a whole process, as a user runs it.",
        "",
        "## Machine and versions",
        "",
        *(f"- {line}" for line in _machine()),
        f"- load average before / after the run: {load[0]} / {load[1]} (the machine is shared: wall times "
        "are noisy, CPU times less so)",
        *(f"- {line}" for line in _versions()),
        *(f"- {v}" for v in versions.values()),
        f"- `decisionform --help`: {_seconds(startup.median('wall'))} wall, "
        f"{_seconds(startup.median('cpu'))} CPU (median of {len(startup.runs)})",
        "",
        "## The floor",
        "",
        "`bench/floor.py`, one process: interpreter start-up, read the bundle file, parse it with yaml-rs "
        "(the fastest YAML parser there is for Python; garbage collector paused), then connect and read the "
        "tenant's rows in bulk: the tenant's id, then `SELECT * … WHERE tenant_id = ?` on each of the nine "
        "kind tables, `placements` and `gitops_state`, every row fetched and its JSON columns decoded with "
        "orjson (straight DB-API: sqlite3 / psycopg). It runs after the creates, so it reads every row. "
        "Nothing else: no validation, no normalisation, no diff, no output.",
        "",
        "Bundle sizes: " + ", ".join(f"{size:,} resources = {bundle_mb[size]:.1f} MB of YAML" for size in sizes)
        + f". Proportions per 10,000: {', '.join(f'{k} {v}' for k, v in counts(10000).items())}.",
        "",
    ]
    for db, by_size in results.items():
        lines += [f"## {versions[db]}", "", "Wall time, and its ratio to the floor of the same size:", "",
                  "| step | " + " | ".join(f"{s:,}" for s in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        for key in SHOWN:
            label = next(s.label for s in STEPS if s.key == key)
            cells = []
            for size in sizes:
                wall = by_size[size][key].median("wall")
                floor = by_size[size]["floor"].median("wall")
                ratio = f" ({wall / floor:.1f}×)" if wall is not None and floor and key != "floor" else ""
                cells.append(_seconds(wall) + ratio)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += ["", "CPU time (user + system), peak memory (max RSS) and SQL statements sent:", "",
                  "| step | " + " | ".join(f"{s:,} CPU | MB | SQL" for s in sizes) + " |",
                  "|---|" + "---:|---:|---:|" * len(sizes)]
        for key in SHOWN:
            label = next(s.label for s in STEPS if s.key == key)
            cells = []
            for size in sizes:
                cell = by_size[size][key]
                statements = cell.median("statements")
                cells += [_seconds(cell.median("cpu")), f"{cell.median('peak_mb'):.0f}",
                          "–" if statements is None else f"{statements:.0f}"]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## Reading the figures",
        "",
        "- Targets (DESIGN §9): `plan` of 10,000 resources with no changes within 2× the floor, `apply` of "
        "10,000 creates within 3×, on both databases; statement counts that do not grow with the number of "
        "resources; peak memory growing linearly.",
        "- An `executemany` and a `COPY` count as one statement each; on PostgreSQL every connection "
        "checkout of SQLAlchemy's pool also sends a `SELECT 1` ping (`pool_pre_ping`). `plan`, `export` "
        "and `refresh` read, like the floor, on the driver itself in one read-only snapshot (its "
        "BEGIN and ROLLBACK are not counted, as in the floor). Counts depend on which kinds a step "
        "writes (one batch per kind and operation), never on how many rows: at 1,000 resources the 10% "
        "update happens to touch no channel, hence the three statements fewer than at 10,000.",
        "- `apply` runs `apply BUNDLE --auto-approve`: parse, validate, read, plan, then write everything "
        "(rows, state, audit) in one transaction, and print the plan, as a CI job does.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated bundle sizes (resources)")
    parser.add_argument("--db", default="sqlite", choices=("sqlite", "postgresql", "both"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (the median is reported)")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="where to write the report")
    parser.add_argument("--pg-url", default=os.environ.get("DECISIONFORM_BENCH_PG", PG_DEFAULT),
                        help="an existing PostgreSQL database, to create and drop the benchmark's databases")
    parser.add_argument("--workdir", default=None, help="keep bundles and outputs here (default: a temp dir)")
    parser.add_argument("--quiet", action="store_true", help="no per-step lines on stderr")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    # Measure the package as an install runs it: compiled to bytecode once (an editable install
    # is not, and with PYTHONDONTWRITEBYTECODE set every process would compile it again).
    import compileall

    import decisionform

    compileall.compile_dir(Path(decisionform.__file__).parent, quiet=1)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="dfbench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    results: dict[str, dict[int, dict[str, Cell]]] = {}
    versions: dict[str, str] = {}
    bundle_mb: dict[int, float] = {}
    try:
        startup = help_startup(workdir)
        for kind in kinds:
            dbs = Databases(kind, workdir, args.pg_url)
            versions[kind] = dbs.server_version()
            results[kind] = {}
            for size in sizes:
                results[kind][size] = bench_size(size, dbs, args.repeat, workdir, not args.quiet)
                bundle_mb[size] = (workdir / f"bundle-{size}-base.yaml").stat().st_size / 1e6
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    load_after = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = report(results, sizes, versions, args.repeat, (load_before, load_after), bundle_mb,
                  time.perf_counter() - started, startup)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"bench: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
