"""The engine: the one facade the CLI and the HTTP API both call.

It wires the parts together — bundle loading, the live database, state,
locks, the planner and the executor — and never prints: warnings and
progress go to an ``Observer`` that the caller plugs in.
"""

from __future__ import annotations

import functools
import hmac
import importlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from decisionform import __version__
from decisionform.bundle.dump import dump_json, dump_yaml, files_layout, write_files_layout
from decisionform.bundle.kinds import KIND_ORDER, KINDS
from decisionform.bundle.load import load_bundle, load_bundle_text
from decisionform.bundle.model import API_VERSION, Bundle
from decisionform.bundle.secrets import SENSITIVE, env_refs, map_secrets
from decisionform.bundle.source import gc_paused
from decisionform.errors import DecisionformError, PlanFileError, StateConflictError, StateError, UsageError
from decisionform.planner.build import (
    PlanContext,
    build_plan,
    check_offline,
    normalize_kinds,
    normalize_targets,
)
from decisionform.planner.plan import Plan, PlanOptions, plan_signature, read_plan_file, write_plan_file
from decisionform.state.model import State

if TYPE_CHECKING:
    from decisionform.audit import ChainCheck
    from decisionform.executor import ApplyResult
    from decisionform.providers.apikeys import ApiKey
    from decisionform.providers.database import Database
    from decisionform.providers.driver import Reader
    from decisionform.providers.live import LiveRows, LiveSnapshot
    from decisionform.state.backends import StateBackend
    from decisionform.state.drift import DriftReport
    from decisionform.state.locks import LeaseLock, LockInfo


class _Lazy:
    """A module imported on first use. The SQL side (SQLAlchemy alone is ~0.3 s of start-up)
    is paid only by commands that touch a database, not by ``--help`` or ``validate``."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


_audit = _Lazy("decisionform.audit")
_executor = _Lazy("decisionform.executor")
apikeys = _Lazy("decisionform.providers.apikeys")
db = _Lazy("decisionform.providers.database")
_live = _Lazy("decisionform.providers.live")
_backends = _Lazy("decisionform.state.backends")
_drift = _Lazy("decisionform.state.drift")
_locks = _Lazy("decisionform.state.locks")
_reports = _Lazy("decisionform.state.reports")

DEFAULT_DATABASE_URL = "sqlite:///decisionform.db"


def _bulk(method: Callable[..., Any]) -> Any:
    """Run ``method`` with the cyclic GC paused: bulk work makes millions of acyclic
    objects, and the collector walking them again and again costs 2.5-4x (DESIGN §9)."""
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with gc_paused():
            return method(*args, **kwargs)

    return wrapper


class _Background:
    """``fn`` run on a daemon thread; ``result()`` waits and returns it or raises its error."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._outcome: tuple[bool, Any] = (False, None)
        self._thread = threading.Thread(target=self._run, args=(fn,), name="decisionform-read", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._outcome = (True, fn())
        except BaseException as exc:  # handed to the caller by result()
            self._outcome = (False, exc)

    def result(self) -> Any:
        self._thread.join()
        done, value = self._outcome
        if not done:
            raise value
        return value


class Observer(Protocol):
    def warn(self, message: str) -> None: ...
    def progress(self, message: str) -> None: ...


class SilentObserver:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def progress(self, message: str) -> None:
        return None


@dataclass
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    tenant: str | None = None
    state: str = "db"  # "db" or the path of a JSON state file

    @classmethod
    def from_env(cls) -> Settings:
        return cls(database_url=os.environ.get("DECISIONFORM_DATABASE_URL") or DEFAULT_DATABASE_URL,
                   tenant=os.environ.get("DECISIONFORM_TENANT") or None,
                   state=os.environ.get("DECISIONFORM_STATE") or "db")


@dataclass
class ExportResult:
    text: str | None = None  # bundle layout
    files: dict[str, str] = field(default_factory=dict)  # files layout
    manifest: dict[str, Any] = field(default_factory=dict)
    count: int = 0


@dataclass
class DriftCheck:
    """One tenant's result of ``drift_check_all``: a stored report, or the error that stopped it."""

    tenant: str
    report_id: int | None = None
    report: DriftReport | None = None
    error: DecisionformError | None = None


class Engine:
    def __init__(self, settings: Settings, observer: Observer | None = None,
                 database: Database | None = None) -> None:
        self.settings = settings
        self.observer = observer or SilentObserver()
        self._database = database
        self._tenant_id: str | None = None
        self._sealing_key: str | None = None
        self._planned_state: State | None = None  # the state the last plan of this engine was made from
        self.applying = False  # an apply's transaction has started (this process)
        self.applied: ApplyResult | None = None  # ... and committed

    # ------------------------------------------------------------ plumbing
    @property
    def database(self) -> Database:
        if self._database is None:
            self._database = db.Database(self.settings.database_url)
            _require_sqlite_file(self._database)
        return self._database

    @property
    def tenant(self) -> str:
        if not self.settings.tenant:
            raise UsageError("no tenant given: pass --tenant NAME or set DECISIONFORM_TENANT")
        return self.settings.tenant

    @property
    def tenant_id(self) -> str:
        if self._tenant_id is None:
            with self.database.snapshot() as reader:
                self._know_tenant(reader)
        assert self._tenant_id is not None
        return self._tenant_id

    def _know_tenant(self, reader: Reader) -> None:
        """The tenant's id and sealing key, in one query on a snapshot the caller has open."""
        if self._tenant_id is None:
            self._tenant_id, self._sealing_key = db.tenant_identity(reader, self.tenant)

    @property
    def sealing_key(self) -> str:
        """The tenant's key for plan-file secrets and secret hashes (bundle/secrets.py)."""
        if self._sealing_key is None:
            # Read first: a write transaction (BEGIN IMMEDIATE on SQLite) would make
            # every plan wait behind a running apply's commit.
            with self.database.snapshot() as reader:
                self._sealing_key = db.existing_sealing_key(reader, self.tenant_id)
        if self._sealing_key is None:
            with self.database.write() as conn:
                self._sealing_key = db.sealing_key(conn, self.tenant_id)
        return self._sealing_key

    def state_backend(self) -> StateBackend:
        if self.settings.state in ("", "db"):
            return _backends.DatabaseState(self.tenant_id)
        return _backends.FileState(self.settings.state)

    def close(self) -> None:
        if self._database is not None:
            self._database.dispose()

    # ------------------------------------------------------------ admin
    def upgrade(self) -> None:
        if self._database is None:
            self._database = db.Database(self.settings.database_url)  # may create the SQLite file
        self.database.upgrade()

    def create_tenant(self, name: str) -> str:
        with self.database.write() as conn:
            return db.create_tenant(conn, name)

    # ------------------------------------------------------------ bundles
    def load(self, target: str | os.PathLike[str]) -> Bundle:
        self.observer.progress(f"Reading {os.fspath(target)}")
        return load_bundle(target)

    def load_text(self, data: bytes | str, *, filename: str = "<request body>", syntax: str | None = None) -> Bundle:
        self.observer.progress(f"Reading {filename}")
        return load_bundle_text(data, filename=filename, syntax=syntax)

    @_bulk
    def validate(self, target: str | os.PathLike[str]) -> Bundle:
        bundle = self.load(target)
        self.observer.progress(f"Checking references of {len(bundle.resources):,} resources")
        check_offline(bundle)
        return bundle

    # ------------------------------------------------------------ plan / apply
    @staticmethod
    def options(*, prune: bool = False, allow_empty: bool = False, kinds: Iterable[str] = (),
                targets: Iterable[str] = ()) -> PlanOptions:
        return PlanOptions(prune=prune, allow_empty=allow_empty, kinds=normalize_kinds(kinds),
                           targets=normalize_targets(targets))

    def _fetch(self) -> tuple[State, LiveRows]:
        """State and the tenant's rows as read, in one snapshot (no row normalised yet)."""
        with self.database.snapshot() as reader:  # on the driver: a plan never loads SQLAlchemy
            self._know_tenant(reader)
            return self.state_backend().load(reader), _live.fetch_live(reader, self.tenant_id)

    def _read(self, bundle: Bundle | None = None, *, compare_with_state: bool = False,
              fetched: tuple[State, LiveRows] | None = None) -> tuple[State, LiveSnapshot]:
        """State and the live rows; rows equal to the bundle's resources (or, to compare only,
        to the state's records) are read without normalising them again."""
        self.observer.progress("Reading the database")
        state, rows = fetched if fetched is not None else self._fetch()
        expect: dict[str, Any] | None = bundle.by_address() if bundle is not None else None
        if compare_with_state:
            expect = {addr: entry.digest for addr, entry in state.resources.items() if entry.digest}
        live = _live.build_live(rows, expect=expect)
        for warning in live.warnings:
            self.observer.warn(warning)
        return state, live

    def _load_while_reading(self, load: Callable[[], Bundle]) -> tuple[Bundle, tuple[State, LiveRows]]:
        """The bundle, and the database read on a thread meanwhile: the read waits on the
        database (PostgreSQL's network, SQLite's pages) mostly without Python's lock, so it
        overlaps with parsing and validating instead of following them. An invalid bundle is
        reported as before, without waiting for the read (which finishes, and closes, alone)."""
        fetch = _Background(self._fetch)
        bundle = load()
        return bundle, fetch.result()

    @_bulk
    def plan(self, bundle: Bundle | Callable[[], Bundle], options: PlanOptions) -> Plan:
        """Plan ``bundle``; given a function that loads it, the database is read meanwhile."""
        fetched = None
        if callable(bundle):
            bundle, fetched = self._load_while_reading(bundle)
        state, live = self._read(bundle, fetched=fetched)
        self._planned_state = state  # an apply of the plan about to be made may reuse it (executor)
        ctx = PlanContext(tenant=self.tenant, database=self.database.identity(),
                          state_backend=self.state_backend().kind, sealing_key=self.sealing_key)
        self.observer.progress(f"Planning {len(bundle.resources):,} resources against {len(live.rows):,} rows")
        return build_plan(bundle, live, state, options, ctx)

    def save_plan(self, plan: Plan, path: str | os.PathLike[str]) -> None:
        write_plan_file(plan, path, self.sealing_key)

    @staticmethod
    def read_plan(path: str | os.PathLike[str]) -> Plan:
        return read_plan_file(path)

    def _check_plan_target(self, plan: Plan) -> None:
        if plan.tenant != self.tenant:
            raise PlanFileError(f"the plan is for tenant {plan.tenant!r}, not {self.tenant!r}")
        if plan.database != self.database.identity():
            raise PlanFileError(f"the plan was made against {plan.database}, not {self.database.identity()}")
        if plan.file_checksum is not None and not hmac.compare_digest(
                plan.file_signature or "", plan_signature(plan.file_checksum, self.sealing_key)):
            raise PlanFileError("the plan file's signature does not match: it was modified after it was "
                                "made, or made for another database or tenant; make a new plan")
        backend = self.state_backend().kind
        if plan.state_backend != backend:
            raise PlanFileError(f"the plan was made with the {plan.state_backend} state backend, "
                                f"not the {backend} one")

    @_bulk
    def apply_plan(self, plan: Plan, *, actor: str | None = None, lock_timeout: float = 0.0,
                   hook: Callable[[str], None] | None = None) -> ApplyResult:
        """Apply exactly ``plan`` or refuse (stale, already applied, locked)."""
        self._check_plan_target(plan)
        if not plan.writes_state:
            return _executor.ApplyResult(plan, applied=False, serial=plan.state_serial)
        with self._lock("apply", plan.plan_id, lock_timeout):
            return self._execute(plan, actor, hook)

    def _execute(self, plan: Plan, actor: str | None, hook: Callable[[str], None] | None) -> ApplyResult:
        """Write ``plan`` in one transaction; ``applying`` / ``applied`` say how far it got, so an
        interrupt (Ctrl-C) can be reported truthfully: rolled back, or already in effect."""
        s = plan.summary()
        self.observer.progress(f"Applying {s['created']:,} creates, {s['updated']:,} updates, "
                               f"{s['deleted']:,} deletes")
        self.applying = True
        planned = self._planned_state if self._planned_state is not None and \
            (self._planned_state.lineage, self._planned_state.serial) == (plan.state_lineage, plan.state_serial) \
            else None
        result = _executor.execute(self.database, self.tenant_id, plan, self.state_backend(),
                                   actor=actor or _locks.whoami(), key=self.sealing_key, hook=hook,
                                   planned_state=planned)
        self.applied = result
        return result

    @_bulk
    def apply_bundle(self, bundle: Bundle, options: PlanOptions, *, actor: str | None = None,
                     lock_timeout: float = 0.0, dry_run: bool = False,
                     hook: Callable[[str], None] | None = None) -> ApplyResult:
        """Plan and apply under one lease, so a repeated request converges instead of applying twice."""
        if dry_run:
            plan = self.plan(bundle, options)
            return _executor.ApplyResult(plan, applied=False, serial=plan.state_serial)
        with self._lock("apply", None, lock_timeout):
            plan = self.plan(bundle, options)
            if not plan.writes_state:
                return _executor.ApplyResult(plan, applied=False, serial=plan.state_serial)
            return self._execute(plan, actor, hook)

    def _lock(self, operation: str, plan_id: str | None, timeout: float) -> LeaseLock:
        return _locks.LeaseLock(self.database, self.tenant_id, operation, plan_id=plan_id, timeout=timeout,
                         warn=self.observer.warn)

    # ------------------------------------------------------------ refresh
    @_bulk
    def refresh(self, *, update_state: bool = False, force: bool = False,
                lock_timeout: float = 0.0) -> DriftReport:
        state, live = self._read(compare_with_state=True)
        self.observer.progress(f"Comparing {len(live.rows):,} rows with state")
        report = _drift.DriftReport(tenant=self.tenant, database=self.database.identity(),
                             created_at=_now(), items=_drift.compute_drift(state, live.rows, self.sealing_key),
                             managed=len(state.resources))
        if update_state and report.has_drift:
            with self._lock("refresh", None, lock_timeout):
                self._accept_drift(force)
        return report

    def _accept_drift(self, force: bool) -> None:
        backend = self.state_backend()
        with self.database.write() as conn:
            state = backend.load(conn)
            live = _live.read_live(conn, self.tenant_id, resources=state.resources)  # only managed rows are compared
            resources = _drift.accept_drift(state, live.rows, self.sealing_key, force=force)
            if resources == state.resources:
                return
            try:
                backend.stage(conn, state.next(resources, None), state.serial)
            except BaseException:
                backend.abort()
                raise
        backend.finish()

    # ------------------------------------------------------------ export
    def export_resources(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        _, live = self._read()
        rows = sorted(live.rows.values(), key=lambda r: (KIND_ORDER[r.kind], r.name))
        manifest = {"apiVersion": API_VERSION, "tenant": self.tenant, "generator": f"decisionform {__version__}"}
        # Secrets are exported as "(sensitive)" = keep the database's value when planned back.
        return manifest, [_redacted_document(row.resource) for row in rows]

    @_bulk
    def export(self, *, fmt: str = "yaml", layout: str = "bundle") -> ExportResult:
        manifest, resources = self.export_resources()
        self.observer.progress(f"Writing {len(resources):,} resources")
        if layout == "files":
            folders = {k.name: k.folder for k in KINDS}
            return ExportResult(files=files_layout(manifest, resources, folders), manifest=manifest,
                                count=len(resources))
        doc = {"manifest": manifest, "resources": resources}
        text = dump_json(doc) if fmt == "json" else dump_yaml(doc)
        return ExportResult(text=text, manifest=manifest, count=len(resources))

    @staticmethod
    def write_files(files: dict[str, str], out_dir: str | os.PathLike[str]) -> None:
        write_files_layout(files, Path(out_dir))

    # ------------------------------------------------------------ API keys, audit, drift reports
    def for_tenant(self, tenant: str) -> Engine:
        """An engine for ``tenant`` on the same database (the API makes one per request)."""
        settings = Settings(database_url=self.settings.database_url, tenant=tenant, state=self.settings.state)
        return Engine(settings, observer=SilentObserver(), database=self.database)

    def create_api_key(self, role: str, *, name: str | None = None,
                       expires: str | None = None) -> tuple[ApiKey, str]:
        """A new key for this tenant: its record and the plaintext, which is never stored."""
        apikeys.check_role(role)
        expires_at = apikeys.parse_expiry(expires)
        with self.database.write() as conn:
            return apikeys.create_api_key(conn, self.tenant_id, role, name=name, expires_at=expires_at)

    def list_api_keys(self) -> list[ApiKey]:
        """This tenant's keys, or every tenant's when no tenant is set."""
        tenant_id = self.tenant_id if self.settings.tenant else None
        with self.database.read() as conn:
            return apikeys.list_api_keys(conn, tenant_id)

    def revoke_api_key(self, ident: str) -> ApiKey:
        tenant_id = self.tenant_id if self.settings.tenant else None
        with self.database.write() as conn:
            return apikeys.revoke_api_key(conn, ident, tenant_id)

    def authenticate(self, key: str) -> ApiKey:
        """The record of a usable key; AccessDenied when unknown, revoked or expired."""
        with self.database.read() as conn:
            return apikeys.verify_api_key(conn, key)

    def audit_logs(self, *, action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """This tenant's audit rows, newest first, in the API's shape."""
        with self.database.read() as conn:
            rows = _audit.list_audit(conn, self.tenant_id, action=action, limit=limit)
        return [_audit.row_document(row, self.tenant) for row in rows]

    def verify_audit(self) -> ChainCheck:
        with self.database.read() as conn:
            return _audit.verify_chain(conn, self.tenant_id)

    @staticmethod
    def env_references(bundle: Bundle) -> list[str]:
        """Every ``${env:NAME}`` secret reference of ``bundle``, as ``Kind "Name".path: NAME``."""
        return [f"{r.quoted}.{'.'.join(path)}: ${{env:{name}}}"
                for r in bundle.resources for path, name in env_refs(r.kind, r.body()).items()]

    def drift_check(self) -> tuple[int, DriftReport]:
        """Refresh this tenant against its state (writing no state) and store the report."""
        report = self.refresh()
        return self.store_drift_report(report), report

    def store_drift_report(self, report: DriftReport) -> int:
        """Keep ``report`` in ``drift_reports`` for this tenant; returns its id. Refresh alone stores nothing."""
        with self.database.write() as conn:
            return _reports.store_drift_report(conn, self.tenant_id, report.to_document())

    def drift_check_all(self) -> list[DriftCheck]:
        """``drift_check`` for every tenant that has database state; one tenant's error stops only it."""
        with self.database.read() as conn:
            names = _reports.tenants_with_state(conn)
        results = []
        for name in names:
            try:
                report_id, report = self.for_tenant(name).drift_check()
                results.append(DriftCheck(name, report_id, report))
            except DecisionformError as exc:
                results.append(DriftCheck(name, error=exc))
        return results

    def drift_reports(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.database.read() as conn:
            return _reports.list_drift_reports(conn, self.tenant_id, limit)

    # ------------------------------------------------------------ state and locks
    def pull_state(self) -> State:
        backend = self.state_backend()
        with self.database.read() as conn:
            return backend.load(conn)

    def push_state(self, new: State, *, force: bool = False, lock_timeout: float = 0.0) -> State:
        with self._lock("state push", None, lock_timeout):
            return self._replace_state(lambda current: _pushed(current, new, force))

    def remove_from_state(self, addresses: list[str], lock_timeout: float = 0.0) -> list[str]:
        removed: list[str] = []

        def change(current: State) -> State:
            missing = [a for a in addresses if a not in current.resources]
            if missing:
                raise StateError(f"not in state: {', '.join(missing)} (see `decisionform state list`)")
            removed.extend(addresses)
            return current.next({a: e for a, e in current.resources.items() if a not in addresses}, None)

        with self._lock("state rm", None, lock_timeout):
            self._replace_state(change)
        return removed

    def _replace_state(self, change: Callable[[State], State]) -> State:
        backend = self.state_backend()
        with self.database.write() as conn:
            current = backend.load(conn)
            new = change(current)
            try:
                backend.stage(conn, new, current.serial)
            except BaseException:
                backend.abort()
                raise
        backend.finish()
        return new

    def locks(self) -> list[LockInfo]:
        return _locks.list_locks(self.database)

    def unlock(self, lock_id: str) -> LockInfo:
        return _locks.unlock(self.database, lock_id)


def _pushed(current: State, new: State, force: bool) -> State:
    if not force:
        if current.lineage is not None and new.lineage != current.lineage:
            raise StateConflictError(f"cannot push: lineage {new.lineage} differs from the current "
                                     f"{current.lineage}; pass --force to overwrite")
        if new.serial < current.serial:
            raise StateConflictError(f"cannot push: serial {new.serial} is older than the current "
                                     f"{current.serial}; pass --force to overwrite")
    return State(lineage=new.lineage or current.lineage, serial=max(new.serial, current.serial + 1),
                 resources=new.resources, applied_plan_ids=current.applied_plan_ids)


def _require_sqlite_file(database: Database) -> None:
    """Only ``db upgrade`` may create a SQLite file: a typo in a path must not leave empty databases."""
    path = database.url.database if database.dialect == "sqlite" else None
    if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
        raise DecisionformError(f"no database at {path}; create it with `decisionform db upgrade`")


def _redacted_document(resource: Any) -> dict[str, Any]:
    doc = resource.document()
    doc["spec"] = map_secrets(resource.kind, {"spec": doc["spec"]}, lambda _p, _v: SENSITIVE)["spec"]
    return doc


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["DecisionformError", "Engine", "Settings"]
