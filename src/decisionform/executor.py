"""Apply a plan: lock, stale check, ordered writes, state, audit — one transaction.

The executor consumes only a frozen ``Plan``. Under the tenant's lease it
re-reads the state and the live rows inside the write transaction and
refuses (writing nothing) when anything the plan covers moved: the state
lineage or serial, a row's version or content, a row created or deleted
since. Then it writes in batches, stages the new state and the audit rows in
the same transaction, and commits; the file state backend renames its file
into place only after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from decisionform.audit import write_apply_audit
from decisionform.bundle import secrets
from decisionform.bundle.compare import changed_paths
from decisionform.bundle.kinds import KIND_BY_NAME
from decisionform.bundle.model import Resource, canonical_spec, digest, split_address
from decisionform.errors import AlreadyAppliedError, PlanFileError, StalePlanError, quote_address
from decisionform.planner.plan import Change, Plan
from decisionform.providers.live import LiveSnapshot, assign_ids, read_live
from decisionform.providers.writes import Write, apply_writes, id_for
from decisionform.state.backends import StateBackend
from decisionform.state.model import State, StateEntry

Hook = Callable[[str], None]


@dataclass
class ApplyResult:
    plan: Plan
    applied: bool  # False when the plan had nothing to write
    serial: int
    audit_rows: int = 0


def _moved(change: Change, live: LiveSnapshot, key: str) -> str | None:
    """How the live row behind ``change`` moved since the plan, or None."""
    who = quote_address(change.kind, change.name)
    row = live.rows.get(change.address)
    if change.op == "create":
        return f"{who} was created since the plan" if row is not None else None
    if row is None:
        return f"{who} was deleted since the plan"
    if row.id != change.id:
        return f"{who} was replaced by another row since the plan"
    now_body = secrets.hashed(row.kind, row.resource.body(), key)
    if row.version != change.version or digest(now_body) != change.live_digest:
        fields = changed_paths(change.before, now_body)
        detail = f": {', '.join(fields)}" if fields else ""
        return f"{who} changed since the plan (version {change.version} → {row.version}){detail}"
    return None


def _compared(plan: Plan) -> set[str]:
    """The rows whose content the checks below compare: those the plan updates, deletes or adopts
    (for a create only the row's absence matters, so the rest is read without normalising)."""
    return {c.address for c in plan.changes if c.op in ("update", "delete")} | set(plan.state_adopt)


def check_not_stale(plan: Plan, state: State, live: LiveSnapshot, key: str) -> None:
    if plan.plan_id in state.applied_plan_ids:
        raise AlreadyAppliedError(f"plan {plan.plan_id} was already applied; make a new plan")
    moved = []
    if plan.state_lineage is not None and state.lineage != plan.state_lineage:
        moved.append(f"the state lineage changed ({plan.state_lineage} → {state.lineage}): another state")
    elif state.serial != plan.state_serial:
        moved.append(f"the state serial moved ({plan.state_serial} → {state.serial}): another apply (or a state command) ran")
    for change in plan.changes:
        if change.is_change or change.address in plan.state_adopt:
            reason = _moved(change, live, key)
            if reason:
                moved.append(reason)
    if moved:
        raise StalePlanError(moved)


def _nothing_left(plan: Plan, state: State, live: LiveSnapshot, key: str) -> bool:
    """A plan without changes only brings state in line with live rows it saw; once state already
    says so (it was applied before), applying it again writes nothing and succeeds."""
    if plan.has_changes:
        return False
    if any(_moved(c, live, key) for c in plan.changes if c.address in plan.state_adopt):
        return False
    return _next_resources(plan, state, live, None, {}, key) == state.resources


def _effective_bodies(plan: Plan, key: str) -> dict[str, dict[str, Any]]:
    """What to write: sealed secrets opened, ``${env:…}`` resolved and checked against plan time."""
    bodies: dict[str, dict[str, Any]] = {}
    moved = []
    for c in plan.changes:
        if c.op not in ("create", "update"):
            continue
        body = secrets.resolve_env(c.kind, c.name, secrets.unseal(c.kind, c.after, key))
        if not plan.specs_validated:  # a plan file; a plan made in this process validated its bundle
            _check_spec(c, body)
        for path, expected in c.env_hashes.items():
            value = secrets.value_at(body, tuple(path.split(".")))
            if secrets.hash_value(value, key) != expected:
                moved.append(f"{quote_address(c.kind, c.name)}.{path}: the value of its environment variable "
                             "changed since the plan")
        bodies[c.address] = body
    if moved:
        raise StalePlanError(moved)
    return bodies


def _check_spec(change: Change, body: dict[str, Any]) -> None:
    """Defence in depth: what a plan file asks to write must still be a valid spec."""
    try:
        canonical_spec(KIND_BY_NAME[change.kind], body.get("spec") or {})
    except (ValidationError, KeyError) as exc:
        raise PlanFileError(f"the plan file holds an invalid spec for {quote_address(change.kind, change.name)}; "
                            "it was not made by decisionform or was modified") from exc


def _writes(plan: Plan, live: LiveSnapshot, bodies: dict[str, dict[str, Any]]) -> list[Write]:
    out = []
    for c in plan.changes:
        if c.op == "create":
            out.append(Write("create", c.kind, c.name, _resource(c, bodies[c.address]),
                             id=live.deleted.get(c.address)))
        elif c.op == "update":
            out.append(Write("update", c.kind, c.name, _resource(c, bodies[c.address]), id=c.id,
                             expected_version=c.version))
        elif c.op == "delete":
            out.append(Write("delete", c.kind, c.name, None, id=c.id, expected_version=c.version))
    return out


def _resource(change: Change, body: dict[str, Any]) -> Resource:
    meta = body.get("metadata", {})
    return Resource(kind=change.kind, name=change.name, spec=body.get("spec", {}),
                    labels=meta.get("labels", {}), annotations=meta.get("annotations", {}))


def _next_resources(plan: Plan, state: State, live: LiveSnapshot, ids: Any,
                    bodies: dict[str, dict[str, Any]], key: str) -> dict[str, StateEntry]:
    """State keeps secrets only as keyed hashes."""
    resources = dict(state.resources)
    for c in plan.changes:
        if c.op in ("create", "update"):
            body = secrets.hashed(c.kind, bodies[c.address], key)
            resources[c.address] = StateEntry.of(id_for(ids, c.kind, c.name), body)
        elif c.op == "delete":
            resources.pop(c.address, None)
        elif c.address in plan.state_adopt:
            row = live.rows[c.address]
            resources[c.address] = StateEntry.of(row.id, secrets.hashed(c.kind, row.resource.body(), key))
    for addr in plan.state_forget:
        resources.pop(addr, None)
    return resources


def execute(database: Any, tenant_id: str, plan: Plan, backend: StateBackend, *, actor: str, key: str,
            hook: Hook | None = None, planned_state: State | None = None) -> ApplyResult:
    """Apply ``plan``; the caller holds the tenant's lease. All or nothing.

    ``planned_state``: the state ``plan`` was made from, when this process made it; reused
    if the state has not moved since (``StateBackend.load``)."""
    if not plan.writes_state:
        return ApplyResult(plan, applied=False, serial=plan.state_serial)
    hook = hook or (lambda _stage: None)
    try:
        with database.write() as conn:
            state = backend.load(conn, planned_state)
            live = read_live(conn, tenant_id, resources=_compared(plan))
            if _nothing_left(plan, state, live, key):
                return ApplyResult(plan, applied=False, serial=state.serial)
            check_not_stale(plan, state, live, key)
            bodies = _effective_bodies(plan, key)
            hook("checked")
            now = datetime.now(UTC)
            writes = _writes(plan, live, bodies)
            ids = assign_ids(live, writes)
            apply_writes(conn, tenant_id, writes, ids, now)
            hook("written")
            resources = _next_resources(plan, state, live, ids, bodies, key)
            new_state = state.next(resources, plan.plan_id if plan.has_changes else None)
            backend.stage(conn, new_state, state.serial)
            hook("state")
            rows = write_apply_audit(conn, tenant_id, plan, actor, now) if plan.has_changes else 0
            hook("audit")
        backend.finish()
    except BaseException:
        backend.abort()
        raise
    return ApplyResult(plan, applied=True, serial=new_state.serial, audit_rows=rows)


def describe(addr: str) -> str:
    return quote_address(*split_address(addr))
