"""The benchmark (bench/run.py) runs end to end on a small bundle.

Nothing here asserts a timing: performance is measured by the benchmark,
never by a timed test. This only keeps the benchmark working.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_bench_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--sizes", "200", "--db", "sqlite", "--repeat", "1",
         "--out", str(out), "--workdir", str(tmp_path / "work"), "--quiet"],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    for label in ("floor (parse + bulk read)", "validate", "plan: no changes", "plan: 10% changed",
                  "apply: all creates", "apply: 10% updates", "apply --prune: 10% deletes", "export", "refresh"):
        row = next((line for line in text.splitlines() if line.startswith(f"| {label} |")), None)
        assert row is not None, f"no {label!r} row in\n{text}"
    assert re.search(r"\| plan: no changes \| [0-9.]+ s \([0-9.]+×\) \|", text), text
    assert "## SQLite" in text and "## The floor" in text
