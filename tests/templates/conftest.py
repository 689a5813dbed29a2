"""Make the package importable when the project is not installed (e.g. a bare venv)."""

import sys
from pathlib import Path

try:
    import decisionform  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
