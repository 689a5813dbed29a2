"""A flag typed on the command line beats its environment variable, before or after the
subcommand (DESIGN §5): with DECISIONFORM_TENANT set to one tenant, `--tenant other` placed
before `apply` must write to the other tenant, never to the one in the environment."""

from __future__ import annotations

import shutil

from support import NORTHWIND, CliEnv


def test_tenant_before_the_subcommand_beats_the_environment(cli: CliEnv) -> None:
    cli.ok("tenant", "create", "other")
    shutil.copy(NORTHWIND, cli.cwd / "bundle.yaml")
    # the environment says "acme" (CliEnv.env); the command line says "other"
    assert cli.summary("--tenant", "other", "apply", "bundle.yaml", "--auto-approve")["created"] == 51
    assert cli.ok("--tenant", "other", "export", "--format", "json").json()["resources"]
    assert cli.ok("export", "--format", "json").json()["resources"] == []  # acme untouched
    # and after the subcommand, as before
    assert cli.run("plan", "bundle.yaml", "--tenant", "other", "--detailed-exitcode").code == 0


def test_state_file_before_the_subcommand_beats_the_environment(cli: CliEnv) -> None:
    shutil.copy(NORTHWIND, cli.cwd / "bundle.yaml")
    state = cli.cwd / "state.json"
    cli.ok("--state", str(state), "apply", "bundle.yaml", "--auto-approve", DECISIONFORM_STATE="db")
    assert state.exists()
    listed = cli.ok("--state", str(state), "state", "list", DECISIONFORM_STATE="db").out
    assert 'Offer.Platinum Travel Card' in listed
    assert "Platinum" not in cli.ok("state", "list", DECISIONFORM_STATE="db").out  # the db state: empty
