"""Ctrl-C after an apply committed is not a failure: the changes are in, so the exit code is
0 and the message says so (a CI job must not read "Aborted." and exit 1 as a failed apply,
then find the saved plan "already applied"). Ctrl-C anywhere else still aborts with 1."""

from __future__ import annotations

import shutil

import pytest

import decisionform.cli
from support import NORTHWIND, CliEnv


def _interrupt(*_args: object, **_kwargs: object) -> str:
    raise KeyboardInterrupt  # what SIGINT raises, at the moment the plan is printed


def test_ctrl_c_after_the_commit_exits_0_and_says_it_took_effect(cli: CliEnv,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(NORTHWIND, cli.cwd / "bundle.yaml")
    monkeypatch.setattr(decisionform.cli, "_render_plan", _interrupt)
    result = cli.run("apply", "bundle.yaml", "--auto-approve")
    assert result.code == 0, result
    assert "Interrupted after the apply took effect (committed; state serial 1)." in result.err
    monkeypatch.undo()
    assert cli.run("plan", "bundle.yaml", "--detailed-exitcode").code == 0  # everything is in


def test_ctrl_c_outside_an_apply_aborts(cli: CliEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(NORTHWIND, cli.cwd / "bundle.yaml")
    monkeypatch.setattr(decisionform.cli, "_render_plan", _interrupt)
    result = cli.run("plan", "bundle.yaml")
    assert result.code == 1 and result.err.strip().endswith("Aborted."), result
