"""`decisionform --help` and `validate` stay light: they never import the HTTP server's stack.

Checked in a fresh interpreter (``sys.modules`` after the command), not timed.
"""

from __future__ import annotations

import json
import subprocess
import sys

from support import NORTHWIND

SERVER = ("fastapi", "uvicorn", "starlette")

PROBE = """
import json, sys
from decisionform.cli import run
code = run(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _modules(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["code"], set(result["modules"])


def test_help_does_not_import_the_server() -> None:
    code, modules = _modules("--help")
    assert code == 0
    assert not modules & set(SERVER), sorted(modules & set(SERVER))
    assert "sqlalchemy" not in modules  # --help touches no database either


def test_validate_does_not_import_the_server() -> None:
    code, modules = _modules("validate", str(NORTHWIND))
    assert code == 0
    assert not modules & set(SERVER), sorted(modules & set(SERVER))
    assert not modules & {"sqlalchemy", "psycopg"}  # validate needs no database: no SQL stack either


def test_plan_reads_without_sqlalchemy(db_url: str, tmp_path) -> None:
    """A plan only reads: on the drivers themselves, without SQLAlchemy's import (DESIGN §9)."""
    import os

    from decisionform.engine import Engine, Settings

    engine = Engine(Settings(database_url=db_url, tenant="acme"))
    engine.upgrade()
    engine.create_tenant("acme")
    engine.close()
    env = {**os.environ, "DECISIONFORM_DATABASE_URL": db_url, "DECISIONFORM_TENANT": "acme",
           "DECISIONFORM_COUNT_STATEMENTS": str(tmp_path / "missing-folder" / "counts.json")}
    done = subprocess.run([sys.executable, "-c", PROBE, "plan", str(NORTHWIND)], capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    assert "sqlalchemy" not in result["modules"]
    # the statement counter's file cannot be written: a one-line warning, no traceback
    assert "Traceback" not in done.stderr
    assert "Warning: cannot write the statement counts to" in done.stderr
