"""Test support shared by every test module (importable: pytest's pythonpath has tests/).

``CliEnv`` runs the real CLI in-process (click's runner isolation around
``decisionform.cli.run``) against one database; ``case_file`` finds the handed
case inputs copied into ``tests/cases/data``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from decisionform.cli import run as run_cli

SHARED = Path(__file__).resolve().parents[2] / "shared"
CASES = Path(__file__).resolve().parent / "cases" / "data"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, err={self.err[-2000:]!r}, out={self.out[-2000:]!r})"


@dataclass
class CliEnv:
    """A fresh database with tenant ``acme``; ``run`` invokes the real CLI in-process."""

    url: str
    tenant: str
    cwd: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {"DECISIONFORM_DATABASE_URL": self.url, "DECISIONFORM_TENANT": self.tenant,
                "DECISIONFORM_STATE": "", "NO_COLOR": "1", **extra}

    def run(self, *args: str, **env: str) -> CliResult:
        runner = CliRunner()
        old = os.getcwd()
        os.chdir(self.cwd)
        try:
            with runner.isolation(env=self.env(**env)) as (out, err, _):
                code = run_cli([str(a) for a in args])
                stdout, stderr = out.getvalue(), err.getvalue()
        finally:
            os.chdir(old)
        result = CliResult(code, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"))
        assert "Traceback" not in result.err, result.err
        return result

    def ok(self, *args: str, **env: str) -> CliResult:
        result = self.run(*args, **env)
        assert result.code == 0, result
        return result

    def summary(self, *args: str, **env: str) -> dict[str, int]:
        return self.ok(*args, "--format", "json", **env).json()["summary"]

    def export(self) -> dict[str, Any]:
        return self.ok("export", "--format", "json").json()

    def exported(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["kind"], r["metadata"]["name"]): r for r in self.export()["resources"]}


def case_file(case: str, name: str) -> Path:
    """A handed case input (copied into tests/cases/data so a clean clone has it)."""
    return CASES / case / name


NORTHWIND = Path(__file__).resolve().parent / "data" / "northwind.yaml"
