"""Command line: parse, call the engine, render, choose the exit code. Nothing else.

Exit codes: 0 success; 1 error; 2 "changes present" (or drift) only with
``--detailed-exitcode``. Errors are one message on stderr; ``--debug`` adds
the traceback.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import click

from decisionform import __version__

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
FORMATS = click.Choice(["text", "markdown", "json"])
COMMON = ("database_url", "tenant", "state", "debug")


class CliObserver:
    """Warnings to stderr. Progress: a status line on stderr for a step that runs over a
    second (``Reading the database… 3s``), replaced by the next step and erased when the
    command writes its output or ends; only on a TTY, and never with JSON output."""

    DELAY = 1.0  # seconds a step runs before it is shown
    TICK = 0.25

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.live = not quiet and sys.stderr.isatty()
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._step: tuple[str, float] | None = None  # (message, started)
        self._shown = False  # a status line is on the screen
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def warn(self, message: str) -> None:
        with self._lock:
            if message in self._warned:  # a row read twice (plan, then apply) warns once
                return
            self._warned.add(message)
            self._erase()
            click.echo(f"Warning: {message}", err=True)

    def progress(self, message: str) -> None:
        """A step starts (the engine's parse, read, plan, apply ...)."""
        if not self.live:
            return
        with self._lock:
            self._step = (message, time.monotonic())
            self._erase()
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="decisionform-progress", daemon=True)
            self._ticker.start()

    def close(self) -> None:
        """The work is over: stop, and leave no status line behind."""
        self._stop.set()
        with self._lock:
            self._step = None
            self._erase()

    def _tick(self) -> None:
        while not self._stop.wait(self.TICK):
            with self._lock:
                if self._step is None:
                    continue
                message, started = self._step
                elapsed = time.monotonic() - started
                if elapsed >= self.DELAY:
                    sys.stderr.write(f"\r\x1b[K{message}… {elapsed:.0f}s")
                    sys.stderr.flush()
                    self._shown = True

    def _erase(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._shown = False


def common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--database-url / --tenant / --state / --debug, accepted before and after the subcommand."""
    options = [
        click.option("--database-url", envvar="DECISIONFORM_DATABASE_URL", default=None,
                     help="SQLAlchemy URL (default sqlite:///decisionform.db)."),
        click.option("--tenant", envvar="DECISIONFORM_TENANT", default=None, help="Tenant name."),
        click.option("--state", "state", envvar="DECISIONFORM_STATE", default=None,
                     help="'db' (default) or the path of a JSON state file."),
        click.option("--debug", is_flag=True, default=None, help="Show tracebacks."),
    ]
    for option in reversed(options):
        func = option(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        settings = ctx.ensure_object(dict)
        for key in COMMON:
            value = kwargs.pop(key, None)
            # A flag typed on the command line beats the environment wherever it stands:
            # `DECISIONFORM_TENANT=a decisionform --tenant b apply …` must not reach tenant a
            # because the subcommand, parsed later, read the variable.
            typed = ctx.get_parameter_source(key) is click.core.ParameterSource.COMMANDLINE
            if value is not None and (typed or key not in settings):
                settings[key] = value
        return func(*args, **kwargs)

    return wrapper


def engine_from_ctx(quiet: bool = False) -> Any:
    from decisionform.engine import Engine, Settings

    obj = click.get_current_context().ensure_object(dict)
    settings = Settings.from_env()
    if obj.get("database_url"):
        settings.database_url = obj["database_url"]
    if obj.get("tenant"):
        settings.tenant = obj["tenant"]
    if obj.get("state"):
        settings.state = obj["state"]
    observer = CliObserver(quiet=quiet)
    _OBSERVERS.append(observer)
    engine = Engine(settings, observer=observer)
    _ENGINES.append(engine)
    return engine


_OBSERVERS: list[CliObserver] = []
_ENGINES: list[Any] = []  # closed when the command ends: pooled connections say goodbye


def _close_engines() -> None:
    while _ENGINES:
        with contextlib.suppress(Exception):  # why: closing idle connections must not fail a command
            _ENGINES.pop().close()


def _end_progress() -> None:
    """Erase any progress line: before output, and when the command ends."""
    while _OBSERVERS:
        _OBSERVERS.pop().close()


def _color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _render_plan(doc: dict[str, Any], fmt: str, *, created_fields: bool = True) -> str:
    from decisionform.templates import render_plan

    return render_plan(doc, fmt, color=_color() and fmt == "text", created_fields=created_fields)


def _render_drift(doc: dict[str, Any], fmt: str) -> str:
    from decisionform.templates import render_drift

    return render_drift(doc, fmt, color=_color() and fmt == "text")


def _emit(text: str) -> None:
    _end_progress()
    click.echo(text, nl=not text.endswith("\n"))


# =================================================================== commands
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="decisionform")
@common_options
def cli() -> None:
    """Plan and apply decisioning configuration (a bundle in git) to a SQL database."""


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@common_options
def db_upgrade() -> None:
    """Create or migrate the schema to the newest version."""
    engine = engine_from_ctx()
    engine.upgrade()
    click.echo(f"Schema is up to date ({engine.database.identity()}).")


@cli.group("tenant")
def tenant_group() -> None:
    """Tenants."""


@tenant_group.command("create")
@click.argument("name")
@common_options
def tenant_create(name: str) -> None:
    """Create tenant NAME."""
    tenant_id = engine_from_ctx().create_tenant(name)
    click.echo(f"Created tenant {name!r} ({tenant_id}).")


@cli.command()
@click.argument("bundle", type=click.Path())
@common_options
def validate(bundle: str) -> None:
    """Check BUNDLE offline: parse, schema, references, cycles."""
    loaded = engine_from_ctx().validate(bundle)
    _end_progress()
    click.echo(f"{bundle}: valid ({len(loaded.resources)} resources).")


def _plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--prune", is_flag=True, help="Delete managed resources the bundle no longer has."),
        click.option("--allow-empty", is_flag=True, help="With --prune, allow an empty bundle (deletes all)."),
        click.option("--kinds", multiple=True, help="Only these kinds (comma-separated)."),
        click.option("--target", "targets", multiple=True, help='Only this address, e.g. "Offer.Gold Card".'),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command()
@click.argument("bundle", type=click.Path())
@_plan_options
@click.option("--out", type=click.Path(), help="Save the plan for `decisionform apply`.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes.")
@common_options
def plan(bundle: str, prune: bool, allow_empty: bool, kinds: tuple[str, ...], targets: tuple[str, ...],
         out: str | None, fmt: str, detailed_exitcode: bool) -> None:
    """Show what applying BUNDLE would change; save it with --out."""
    from decisionform.errors import UsageError

    if out and os.path.exists(out) and os.path.realpath(out) == os.path.realpath(bundle):
        raise UsageError(f"--out {out} is the bundle itself; write the plan to another file")
    engine = engine_from_ctx(quiet=fmt == "json")
    options = engine.options(prune=prune, allow_empty=allow_empty, kinds=kinds, targets=targets)
    planned = engine.plan(lambda: engine.load(bundle), options)  # the database is read meanwhile
    if out:
        engine.save_plan(planned, out)
    _emit(_render_plan(planned.to_document(), fmt))
    if out and fmt == "text":
        click.echo(f"\nSaved the plan to {out}. Apply exactly it with: decisionform apply {out}")
    # Exit 2 for row changes (DESIGN §5); state-only bookkeeping is shown above but is not a change.
    if detailed_exitcode and planned.has_changes:
        raise SystemExit(EXIT_CHANGES)


@cli.command()
@click.argument("plan_file", type=click.Path())
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@common_options
def show(plan_file: str, fmt: str) -> None:
    """Render a saved plan."""
    from decisionform.engine import Engine

    _emit(_render_plan(Engine.read_plan(plan_file).to_document(), fmt))


@cli.command()
@click.argument("source", type=click.Path())
@click.option("--auto-approve", is_flag=True, help="With a BUNDLE: plan and apply in one step.")
@_plan_options
@click.option("--lock-timeout", default="0s", show_default=True, help="Wait this long for the lock (30s, 2m).")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@common_options
def apply(source: str, auto_approve: bool, prune: bool, allow_empty: bool, kinds: tuple[str, ...],
          targets: tuple[str, ...], lock_timeout: str, fmt: str) -> None:
    """Apply a saved plan (exactly it), or a BUNDLE with --auto-approve."""
    from decisionform.errors import UsageError
    from decisionform.state.locks import parse_duration

    engine = engine_from_ctx(quiet=fmt == "json")
    timeout = parse_duration(lock_timeout)
    if _is_plan_file(source):
        if prune or allow_empty or kinds or targets:
            raise UsageError("a saved plan already fixes its options; --prune/--kinds/--target apply to bundles")
        result = engine.apply_plan(engine.read_plan(source), lock_timeout=timeout)
    else:
        if not auto_approve:
            # Not a plan file; whether it is a valid bundle is only known once it is read.
            raise UsageError(f"{source} is not a saved plan (`decisionform plan BUNDLE --out FILE` writes one); "
                             f"to apply a bundle, review a plan first (decisionform plan {source} --out plan.out) "
                             "or pass --auto-approve")
        options = engine.options(prune=prune, allow_empty=allow_empty, kinds=kinds, targets=targets)
        result = engine.apply_bundle(engine.load(source), options, lock_timeout=timeout)
    doc = result.plan.to_document(dry_run=False)
    if fmt != "text":
        _emit(_render_plan(doc, fmt))
        return
    _emit(_render_plan(doc, "text", created_fields=False))  # the fields were in the reviewed plan
    s = doc["summary"]
    if result.applied:
        click.echo(f"\nApply complete: {s['created']} created, {s['updated']} updated, {s['deleted']} deleted "
                   f"(state serial {result.serial}).")
    else:
        click.echo("\nNothing to apply: the database already matches.")


def _is_plan_file(path: str) -> bool:
    """A saved plan names its format near the top, however the JSON is laid out."""
    import re

    from decisionform.errors import UsageError

    if not os.path.exists(path):
        raise UsageError(f"no such file or directory: {path}")
    if os.path.isdir(path):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return re.search(rb'"format"\s*:\s*"decisionform-plan/', head) is not None


@cli.command()
@click.option("--update-state", is_flag=True, help="Accept the live values of managed resources into state.")
@click.option("--force", is_flag=True, help="Update state even if most managed resources look deleted.")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there is drift.")
@click.option("--lock-timeout", default="0s", show_default=True)
@common_options
def refresh(update_state: bool, force: bool, fmt: str, detailed_exitcode: bool, lock_timeout: str) -> None:
    """Compare state with the live database: changed, deleted, unmanaged."""
    from decisionform.state.locks import parse_duration

    engine = engine_from_ctx(quiet=fmt == "json")
    report = engine.refresh(update_state=update_state, force=force, lock_timeout=parse_duration(lock_timeout))
    _emit(_render_drift(report.to_document(), fmt))
    if update_state and report.has_drift and fmt == "text":
        click.echo("State updated with the live values of managed resources (unmanaged rows are never adopted).")
    if detailed_exitcode and report.has_drift:
        raise SystemExit(EXIT_CHANGES)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("--layout", type=click.Choice(["bundle", "files"]), default="bundle", show_default=True)
@click.option("--out", type=click.Path(), help="File (bundle layout) or directory (files layout).")
@common_options
def export(fmt: str, layout: str, out: str | None) -> None:
    """Write the tenant's live configuration as a bundle."""
    from decisionform.errors import UsageError

    engine = engine_from_ctx()
    result = engine.export(fmt=fmt, layout=layout)
    _end_progress()
    if layout == "files":
        if not out:
            raise UsageError("--layout files needs --out DIRECTORY")
        engine.write_files(result.files, out)
        click.echo(f"Exported {result.count} resources to {out}/ ({len(result.files)} files).", err=True)
        return
    if out:
        _write_text(out, result.text or "")
        click.echo(f"Exported {result.count} resources to {out}.", err=True)
    else:
        _emit(result.text or "")


def _write_text(path: str, text: str) -> None:
    from decisionform.errors import UsageError

    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the bundle (for editors)."""
    import orjson

    from decisionform.bundle.jsonschema import bundle_json_schema

    click.echo(orjson.dumps(bundle_json_schema(), option=orjson.OPT_INDENT_2).decode())


# ------------------------------------------------------------------ state
@cli.group("state")
def state_group() -> None:
    """Inspect and repair state."""


@state_group.command("list")
@common_options
def state_list() -> None:
    """List managed addresses."""
    for addr in engine_from_ctx().pull_state().resources:
        click.echo(addr)


@state_group.command("show")
@click.argument("address")
@common_options
def state_show(address: str) -> None:
    """Show one managed resource as state records it."""
    import orjson

    from decisionform.bundle.secrets import redact_body
    from decisionform.errors import UsageError

    entry = engine_from_ctx().pull_state().resources.get(address)
    if entry is None:
        raise UsageError(f"{address!r} is not in state (see `decisionform state list`)")
    kind = address.partition(".")[0]
    doc = {"address": address, "id": entry.id, "digest": entry.digest, **redact_body(kind, entry.body())}
    click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())


@state_group.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@common_options
def state_rm(addresses: tuple[str, ...]) -> None:
    """Forget ADDRESSES (the rows stay; they become unmanaged)."""
    for addr in engine_from_ctx().remove_from_state(list(addresses)):
        click.echo(f"Removed {addr} from state.")


@state_group.command("pull")
@common_options
def state_pull() -> None:
    """Print the state document as JSON."""
    import orjson

    doc = engine_from_ctx().pull_state().to_document()
    click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())


@state_group.command("push")
@click.argument("file", type=click.Path())
@click.option("--force", is_flag=True, help="Overwrite despite a lineage or serial mismatch.")
@common_options
def state_push(file: str, force: bool) -> None:
    """Replace the state with FILE (checks lineage and serial)."""
    import orjson

    from decisionform.errors import StateError
    from decisionform.state.model import State

    try:
        with open(file, "rb") as fh:
            doc = orjson.loads(fh.read())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StateError(f"cannot read {file}: {exc}") from exc
    new = engine_from_ctx().push_state(State.from_document(doc, file), force=force)
    click.echo(f"Pushed state (serial {new.serial}).")


# ------------------------------------------------------------------ locks
@cli.group("lock")
def lock_group() -> None:
    """Inspect and clear tenant leases."""


@lock_group.command("list")
@common_options
def lock_list() -> None:
    """List held leases."""
    locks = engine_from_ctx().locks()
    if not locks:
        click.echo("No locks held.")
    for info in locks:
        click.echo(f"{info.lock_id}  tenant {info.tenant or info.tenant_id}  {info.describe()}")


@lock_group.command("unlock")
@click.argument("lock_id")
@common_options
def lock_unlock(lock_id: str) -> None:
    """Remove lease LOCK_ID (only when its holder is dead)."""
    info = engine_from_ctx().unlock(lock_id)
    click.echo(f"Removed lock {info.lock_id} held by {info.holder} (pid {info.pid}, {info.operation}).")


# ------------------------------------------------------------------ API keys and the server
@cli.group("apikey")
def apikey_group() -> None:
    """Keys for the HTTP API (each binds a tenant and a role; only a hash is stored)."""


@apikey_group.command("create")
@click.option("--role", required=True, help="viewer, editor or admin.")
@click.option("--name", default=None, help="Shown in audit rows as the actor (default: the key id).")
@click.option("--expires", default=None, help="A duration (90d, 12h, 2w) or an ISO date / date-time (UTC).")
@common_options
def apikey_create(role: str, name: str | None, expires: str | None) -> None:
    """Create a key for --tenant; print it once (stdout), the only time it is shown."""
    record, key = engine_from_ctx().create_api_key(role, name=name, expires=expires)
    click.echo(key)
    until = f", expires {record.expires_at:%Y-%m-%dT%H:%M:%SZ}" if record.expires_at else ""
    click.echo(f"Created API key {record.id} ({record.name!r}, tenant {record.tenant!r}, role {record.role}"
               f"{until}). Store it now: it is not shown again.", err=True)


@apikey_group.command("list")
@common_options
def apikey_list() -> None:
    """List keys (of --tenant, or of every tenant): id, prefix, tenant, role, name, status."""
    keys = engine_from_ctx().list_api_keys()
    if not keys:
        click.echo("No API keys.")
    for k in keys:
        until = f"  expires {k.expires_at:%Y-%m-%dT%H:%M:%SZ}" if k.expires_at else ""
        click.echo(f"{k.id}  {k.prefix}…  tenant {k.tenant}  {k.role}  {k.status()}  {k.name!r}{until}")


@apikey_group.command("revoke")
@click.argument("key_id")
@common_options
def apikey_revoke(key_id: str) -> None:
    """Revoke KEY_ID (the key id, or the prefix that `apikey list` shows)."""
    record = engine_from_ctx().revoke_api_key(key_id)
    click.echo(f"Revoked API key {record.id} ({record.name!r}, tenant {record.tenant!r}).")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--trust-tenant-header", is_flag=True,
              help="Honour X-Tenant-Id without a key: only behind a proxy that authenticates and sets it.")
@click.option("--max-body-bytes", default=32 * 1024 * 1024, show_default=True, type=click.IntRange(1),
              help="Larger request bodies get 413.")
@click.option("--lock-timeout", default="0s", show_default=True,
              help="How long an apply waits for the tenant's lock before 409.")
@common_options
def serve(host: str, port: int, workers: int, trust_tenant_header: bool, max_body_bytes: int,
          lock_timeout: str) -> None:
    """Serve the HTTP API (uvicorn). The cron route needs DECISIONFORM_CRON_SECRET in the environment."""
    from decisionform.api.app import ApiSettings
    from decisionform.api.server import serve as run_server
    from decisionform.errors import UsageError
    from decisionform.state.locks import parse_duration

    gc.enable()  # a long-running server needs the cyclic GC that `run` pauses for one-shot commands
    engine = engine_from_ctx()
    if engine.settings.state not in ("", "db"):
        raise UsageError("the server keeps state in the database: drop --state / DECISIONFORM_STATE")
    settings = ApiSettings.from_env()
    settings = ApiSettings(database_url=engine.settings.database_url, trust_tenant_header=trust_tenant_header,
                           cron_secret=settings.cron_secret, max_body_bytes=max_body_bytes,
                           lock_timeout=parse_duration(lock_timeout))
    run_server(settings, host=host, port=port, workers=workers)


# ================================================================== entry
def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (errors mapped to 1, never a traceback)."""
    from decisionform.errors import DecisionformError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    gc_enabled = gc.isenabled()
    # A command is one short process: the cyclic GC would only walk the bundle's
    # millions of objects again and again (DESIGN §9); reference counting still
    # frees them. `serve` turns it back on for the server's lifetime.
    gc.disable()
    applying, applied = False, None
    try:
        try:
            result = cli.main(args=args, prog_name="decisionform", standalone_mode=False)
        finally:
            _end_progress()
            applying = any(e.applying for e in _ENGINES)
            applied = next((e.applied for e in _ENGINES if e.applied is not None), None)
            _close_engines()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except click.exceptions.Abort:  # Ctrl-C: say what it means for the database
        if applied is not None:
            click.echo(f"Interrupted after the apply took effect (committed; state serial {applied.serial}).",
                       err=True)
            return EXIT_OK
        # Before its COMMIT returned, the transaction either rolled back or (an interrupt that
        # landed during the COMMIT itself) took effect as a whole: never half of it.
        click.echo("Interrupted during the apply: it took effect entirely or not at all (a rollback, unless "
                   "the interrupt came during the commit); run `decisionform plan` to see which."
                   if applying else "Aborted.", err=True)
        return EXIT_ERROR
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR
    except DecisionformError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        return EXIT_ERROR
    except Exception as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (a bug; rerun with --debug for details)",
                   err=True)
        return EXIT_ERROR
    finally:
        if gc_enabled:
            gc.enable()
    return result if isinstance(result, int) else EXIT_OK


def main() -> None:
    code = run()
    # The process ends here. Freezing what is left spares the interpreter's final garbage
    # collection, which would walk every object that importing SQLAlchemy, pydantic and the
    # kinds' models made (about 0.25 s of every command); the OS takes the memory back anyway.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    main()
