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

from decisionform.audit import write_apply_audit
from decisionform.bundle.model import Resource, split_address
from decisionform.errors import AlreadyAppliedError, StalePlanError, quote_address
from decisionform.planner.diff import changed_paths
from decisionform.planner.plan import Change, Plan
from decisionform.providers.live import LiveSnapshot, Write, apply_writes, assign_ids, id_for, read_live
from decisionform.state.backends import StateBackend
from decisionform.state.model import State, StateEntry

Hook = Callable[[str], None]


@dataclass
class ApplyResult:
    plan: Plan
    applied: bool  # False when the plan had nothing to write
    serial: int
    audit_rows: int = 0


def _moved(change: Change, live: LiveSnapshot) -> str | None:
    """How the live row behind ``change`` moved since the plan, or None."""
    who = quote_address(change.kind, change.name)
    row = live.rows.get(change.address)
    if change.op == "create":
        return f"{who} was created since the plan" if row is not None else None
    if row is None:
        return f"{who} was deleted since the plan"
    if row.id != change.id:
        return f"{who} was replaced by another row since the plan"
    if row.version != change.version or row.resource.digest() != change.live_digest:
        fields = changed_paths(change.before, row.resource.body())
        detail = f": {', '.join(fields)}" if fields else ""
        return f"{who} changed since the plan (version {change.version} → {row.version}){detail}"
    return None


def check_not_stale(plan: Plan, state: State, live: LiveSnapshot) -> None:
    if plan.plan_id in state.applied_plan_ids:
        raise AlreadyAppliedError(f"plan {plan.plan_id} was already applied; make a new plan")
    moved = []
    if plan.state_lineage is not None and state.lineage != plan.state_lineage:
        moved.append(f"the state lineage changed ({plan.state_lineage} → {state.lineage}): another state")
    elif state.serial != plan.state_serial:
        moved.append(f"the state serial moved ({plan.state_serial} → {state.serial}): another apply ran")
    for change in plan.changes:
        if change.is_change or change.address in plan.state_adopt:
            reason = _moved(change, live)
            if reason:
                moved.append(reason)
    if moved:
        raise StalePlanError(moved)


def _writes(plan: Plan, live: LiveSnapshot) -> list[Write]:
    out = []
    for c in plan.changes:
        if c.op == "create":
            out.append(Write("create", c.kind, c.name, _resource(c), id=live.deleted.get(c.address)))
        elif c.op == "update":
            out.append(Write("update", c.kind, c.name, _resource(c), id=c.id, expected_version=c.version))
        elif c.op == "delete":
            out.append(Write("delete", c.kind, c.name, None, id=c.id, expected_version=c.version))
    return out


def _resource(change: Change) -> Resource:
    body = change.after or {}
    meta = body.get("metadata", {})
    return Resource(kind=change.kind, name=change.name, spec=body.get("spec", {}),
                    labels=meta.get("labels", {}), annotations=meta.get("annotations", {}))


def _next_resources(plan: Plan, state: State, live: LiveSnapshot, ids: Any) -> dict[str, StateEntry]:
    resources = dict(state.resources)
    for c in plan.changes:
        if c.op in ("create", "update"):
            resources[c.address] = StateEntry.of(id_for(ids, c.kind, c.name), c.after or {})
        elif c.op == "delete":
            resources.pop(c.address, None)
        elif c.address in plan.state_adopt:
            row = live.rows[c.address]
            resources[c.address] = StateEntry.of(row.id, row.resource.body())
    for addr in plan.state_forget:
        resources.pop(addr, None)
    return resources


def execute(database: Any, tenant_id: str, plan: Plan, backend: StateBackend, *, actor: str,
            hook: Hook | None = None) -> ApplyResult:
    """Apply ``plan``; the caller holds the tenant's lease. All or nothing."""
    if not plan.writes_state:
        return ApplyResult(plan, applied=False, serial=plan.state_serial)
    hook = hook or (lambda _stage: None)
    try:
        with database.write() as conn:
            state = backend.load(conn)
            live = read_live(conn, tenant_id)
            check_not_stale(plan, state, live)
            hook("checked")
            now = datetime.now(UTC)
            writes = _writes(plan, live)
            ids = assign_ids(live, writes)
            apply_writes(conn, tenant_id, writes, ids, now)
            hook("written")
            new_state = state.next(_next_resources(plan, state, live, ids), plan.plan_id if plan.has_changes else None)
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
