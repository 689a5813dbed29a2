"""The audit trail: hash-chained rows written in the apply's transaction.

Each row's ``integrity_hash`` is sha256 over the previous row's hash and the
row's own content, per tenant; ``verify`` walks the chain and names the first
row whose content or link no longer matches. Rows are only ever inserted.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from decisionform.planner.plan import Plan, diff_entry
from decisionform.providers.schema import metadata
from decisionform.providers.writes import bulk_insert

GENESIS = "0" * 64


@functools.lru_cache(maxsize=256)  # why: every row of one apply shares its timestamp
def _stamp(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    content = {k: row.get(k) for k in ("tenant_id", "action", "entity_type", "entity_name", "before", "after",
                                       "summary", "actor", "plan_id")}
    content["created_at"] = _stamp(row["created_at"])
    payload = prev_hash.encode() + b"\n" + orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


def _last_hash(conn: Connection, tenant_id: str) -> str:
    t = metadata.tables["audit_logs"]
    row = conn.execute(select(t.c.integrity_hash).where(t.c.tenant_id == tenant_id)
                       .order_by(t.c.id.desc()).limit(1)).first()
    return row[0] if row else GENESIS


def _presorted(body: Any) -> Any:
    """``body`` serialised once, keys sorted: the hash below embeds these bytes as they are
    (the same bytes as sorting the whole row) and the JSON column stores them, so a body of
    10,000 changed resources is not serialised twice. Read back, it is a plain mapping again."""
    return None if body is None else orjson.Fragment(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


def summary_text(summary: dict[str, int]) -> str:
    return (f"{summary['created']} created, {summary['updated']} updated, {summary['deleted']} deleted, "
            f"{summary['unchanged']} unchanged")


def write_apply_audit(conn: Connection, tenant_id: str, plan: Plan, actor: str, now: datetime) -> int:
    """One ``gitops_apply`` row plus one row per changed resource; returns the rows written."""
    summary = plan.summary()
    kinds = sorted({c.kind for c in plan.changes if c.is_change})
    rows: list[dict[str, Any]] = [{
        "tenant_id": tenant_id, "action": "gitops_apply", "entity_type": "Bundle", "entity_name": plan.tenant,
        "before": None, "after": {"planId": plan.plan_id, "summary": summary, "kinds": kinds,
                                  "options": plan.options.as_document()},
        "summary": f"gitops apply {plan.plan_id}: {summary_text(summary)}", "actor": actor,
        "plan_id": plan.plan_id, "created_at": now,
    }]
    for change in plan.changes:
        if not change.is_change:
            continue
        entry = diff_entry(change)
        rows.append({
            "tenant_id": tenant_id, "action": f"gitops_{change.op}", "entity_type": change.kind,
            "entity_name": change.name, "before": _presorted(entry["before"]), "after": _presorted(entry["after"]),
            "summary": f"{change.op} {change.kind} {change.name!r}" +
                       (f" ({', '.join(change.changed)})" if change.changed else ""),
            "actor": actor, "plan_id": plan.plan_id, "created_at": now,
        })
    prev = _last_hash(conn, tenant_id)
    for row in rows:
        row["prev_hash"] = prev
        row["integrity_hash"] = prev = row_hash(prev, row)
    bulk_insert(conn, metadata.tables["audit_logs"], rows)  # ids (the chain's order) follow the rows' order
    return len(rows)


@dataclass
class ChainCheck:
    intact: bool
    total: int
    broken_at_id: int | None = None


def verify_chain(conn: Connection, tenant_id: str) -> ChainCheck:
    t = metadata.tables["audit_logs"]
    prev = GENESIS
    total = 0
    for row in conn.execute(select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.id)).mappings():
        total += 1
        if row["prev_hash"] != prev or row_hash(prev, dict(row)) != row["integrity_hash"]:
            return ChainCheck(False, total, row["id"])
        prev = row["integrity_hash"]
    return ChainCheck(True, total)


def list_audit(conn: Connection, tenant_id: str, *, action: str | None = None, limit: int = 100) -> list[dict]:
    t = metadata.tables["audit_logs"]
    query = select(t).where(t.c.tenant_id == tenant_id)
    if action:
        query = query.where(t.c.action == action)
    return [dict(r) for r in conn.execute(query.order_by(t.c.id.desc()).limit(limit)).mappings()]


def row_document(row: dict[str, Any], tenant: str) -> dict[str, Any]:
    """One audit row as the API lists it (DESIGN §7)."""
    return {"id": row["id"], "action": row["action"], "entityType": row["entity_type"],
            "entityName": row["entity_name"], "before": row["before"], "after": row["after"],
            "summary": row["summary"], "actor": row["actor"], "planId": row.get("plan_id"), "tenant": tenant,
            "timestamp": _stamp(row["created_at"]), "prevHash": row["prev_hash"],
            "integrityHash": row["integrity_hash"]}
