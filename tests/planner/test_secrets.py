"""Secrets never leave the database in clear: not in outputs, plan files, state or exports."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from decisionform.providers.database import Database
from support import NORTHWIND, CliEnv

SECRETS = ("SG.REDACTED-EXAMPLE", "REDACTED-EXAMPLE")  # Northwind's Email apiKey and SMS authToken


def _provider_config(url: str, channel: str) -> dict:
    db = Database(url)
    try:
        with db.read() as conn:
            value = conn.execute(text("SELECT provider_config FROM channels WHERE name = :n AND deleted_at IS NULL"),
                                 {"n": channel}).scalar()
    finally:
        db.dispose()
    return value if isinstance(value, dict) else __import__("json").loads(value)


def _assert_clean(*texts: str) -> None:
    for blob in texts:
        for secret in SECRETS:
            assert secret not in blob


def test_no_secret_in_any_output_but_written_to_the_database(cli: CliEnv, tmp_path: Path) -> None:
    outputs = []
    for fmt in ("text", "markdown", "json"):
        outputs.append(cli.ok("plan", NORTHWIND, "--out", "plan.out", "--format", fmt).out)
        outputs.append(cli.ok("show", "plan.out", "--format", fmt).out)
    outputs.append((tmp_path / "plan.out").read_text())
    applied = cli.ok("apply", "plan.out")
    outputs += [applied.out, applied.err]
    outputs.append(cli.ok("state", "pull").out)
    outputs.append(cli.ok("state", "show", "Channel.Email").out)
    outputs.append(cli.ok("export").out)
    outputs.append(cli.ok("export", "--format", "json").out)
    outputs.append(cli.ok("refresh", "--format", "json").out)
    _assert_clean(*outputs)
    assert "(sensitive)" in cli.ok("show", "plan.out", "--format", "json").out
    # ... and yet the database holds the real values, from the sealed plan file.
    assert _provider_config(cli.url, "Email")["apiKey"] == "SG.REDACTED-EXAMPLE"
    assert _provider_config(cli.url, "SMS")["authToken"] == "REDACTED-EXAMPLE"


def test_export_with_redacted_secrets_plans_to_zero_changes(cli: CliEnv) -> None:
    cli.ok("apply", NORTHWIND, "--auto-approve")
    cli.ok("export", "--out", "export.yaml")
    assert cli.run("plan", "export.yaml", "--detailed-exitcode").code == 0
    cli.ok("apply", "export.yaml", "--auto-approve")
    assert _provider_config(cli.url, "Email")["apiKey"] == "SG.REDACTED-EXAMPLE"


def test_a_changed_secret_shows_as_sensitive_changed(cli: CliEnv, tmp_path: Path) -> None:
    cli.ok("apply", NORTHWIND, "--auto-approve")
    changed = tmp_path / "changed.yaml"
    changed.write_text(NORTHWIND.read_text().replace("apiKey: SG.REDACTED-EXAMPLE", "apiKey: SG.NEW-SECRET-VALUE"))
    doc = cli.ok("plan", changed, "--format", "json").json()
    (diff,) = [d for d in doc["diffs"] if d["op"] != "unchanged"]
    assert (diff["kind"], diff["name"], diff["changedFields"]) == ("Channel", "Email", ["spec.providerConfig.apiKey"])
    assert diff["after"]["spec"]["providerConfig"]["apiKey"] == "(sensitive, changed)"
    assert diff["before"]["spec"]["providerConfig"]["apiKey"] == "(sensitive, changed)"
    assert "SG.NEW-SECRET-VALUE" not in cli.ok("plan", changed, "--format", "markdown").out


def test_env_reference_resolved_at_apply_and_checked_against_plan(cli: CliEnv, tmp_path: Path) -> None:
    bundle = tmp_path / "env.yaml"
    bundle.write_text(NORTHWIND.read_text().replace("apiKey: SG.REDACTED-EXAMPLE", 'apiKey: "${env:MAIL_KEY}"'))
    missing = cli.run("plan", bundle)
    assert missing.code == 1 and "MAIL_KEY" in missing.err and "not set" in missing.err
    cli.ok("plan", bundle, "--out", "env.out", MAIL_KEY="first-value")
    assert "first-value" not in (tmp_path / "env.out").read_text()
    moved = cli.run("apply", "env.out", MAIL_KEY="second-value")
    assert moved.code == 1 and "plan is stale" in moved.err and "MAIL_KEY" not in moved.out
    assert cli.export()["resources"] == []  # nothing written
    cli.ok("apply", "env.out", MAIL_KEY="first-value")
    assert _provider_config(cli.url, "Email")["apiKey"] == "first-value"
    assert cli.run("plan", bundle, "--detailed-exitcode", MAIL_KEY="first-value").code == 0
    assert cli.run("plan", bundle, "--detailed-exitcode", MAIL_KEY="rotated").code == 2


def test_everything_under_a_credential_key_is_secret(cli: CliEnv, tmp_path: Path) -> None:
    bundle = tmp_path / "nested.yaml"
    bundle.write_text("""resources:
  - kind: Channel
    metadata: {name: Hook}
    spec:
      channelType: webhook
      providerConfig:
        url: https://hooks.example/x
        secret: {inner: LEAK-ONE}
        credentials: {user: u, pass: LEAK-TWO}
        apiKeys: [LEAK-THREE]
        connectionString: postgres://u:LEAK-FOUR@h/db
""")
    outputs = [cli.ok("plan", bundle, "--out", "p.out", "--format", fmt).out for fmt in ("text", "markdown", "json")]
    outputs.append((tmp_path / "p.out").read_text())
    cli.ok("apply", "p.out")
    outputs += [cli.ok("export").out, cli.ok("state", "pull").out, cli.ok("refresh", "--format", "json").out]
    for blob in outputs:
        for leak in ("LEAK-ONE", "LEAK-TWO", "LEAK-THREE", "LEAK-FOUR"):
            assert leak not in blob
    assert _provider_config(cli.url, "Hook")["credentials"] == {"user": "u", "pass": "LEAK-TWO"}
    assert cli.run("plan", bundle, "--detailed-exitcode").code == 0
