"""Checks shared by the parse-side case tests (H02, H03, H04, H08, H09).

"Nothing written" (cases/README.md): ``export --format json`` byte-identical,
``state pull`` identical (or the ``--state`` file's bytes, absent staying
absent), and no lock left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from support import CliEnv, CliResult


@dataclass(frozen=True)
class Snapshot:
    export: str
    state: str
    state_file: bytes | None
    locks: str


def snapshot(cli: CliEnv, state_file: Path | None = None) -> Snapshot:
    file_bytes = state_file.read_bytes() if state_file is not None and state_file.exists() else None
    return Snapshot(cli.ok("export", "--format", "json").out, cli.ok("state", "pull").out, file_bytes,
                    cli.ok("lock", "list").out)


def assert_nothing_written(cli: CliEnv, before: Snapshot, state_file: Path | None = None) -> None:
    after = snapshot(cli, state_file)
    assert after.export == before.export
    assert after.state == before.state
    assert after.state_file == before.state_file
    if state_file is not None and before.state_file is None:
        assert not state_file.exists()
    assert after.locks == before.locks and "No locks held." in after.locks


def fails(cli: CliEnv, *args: str | Path, **env: str) -> CliResult:
    """Run a command that must fail cleanly: exit 1, one ``Error:`` message, no traceback."""
    result = cli.run(*map(str, args), **env)
    assert result.code == 1, result
    assert any(line.startswith("Error: ") for line in result.err.splitlines()), result  # after any warnings
    assert "unexpected" not in result.err and "Traceback" not in result.err, result
    return result


def fails_writing_nothing(cli: CliEnv, *args: str | Path, **env: str) -> CliResult:
    before = snapshot(cli)
    result = fails(cli, *args, **env)
    assert_nothing_written(cli, before)
    return result
