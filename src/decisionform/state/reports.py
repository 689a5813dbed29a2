"""Stored drift reports (``drift_reports``): what the scheduled drift check found, per tenant.

The HTTP cron route refreshes every tenant that has state and keeps each
report, so "when did this drift start" can be answered later. Rows are only
ever inserted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from decisionform.providers.schema import drift_reports, gitops_state, tenants, utcnow


def store_drift_report(conn: Connection, tenant_id: str, document: dict[str, Any],
                       now: datetime | None = None) -> int:
    """Insert one report (the JSON of ``DriftReport.to_document``); returns its id."""
    result = conn.execute(insert(drift_reports).values(
        tenant_id=tenant_id, created_at=now or utcnow(), summary=document["summary"], report=document)
        .returning(drift_reports.c.id))
    return int(result.scalar_one())


def list_drift_reports(conn: Connection, tenant_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest reports first: ``{id, createdAt, summary, report}``."""
    t = drift_reports
    rows = conn.execute(select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.id.desc()).limit(limit))
    return [{"id": r.id, "createdAt": r.created_at.isoformat(), "summary": r.summary, "report": r.report}
            for r in rows]


def tenants_with_state(conn: Connection) -> list[str]:
    """Names of the tenants whose database state exists (the ones a drift check can compare)."""
    query = (select(tenants.c.name).join(gitops_state, gitops_state.c.tenant_id == tenants.c.id)
             .order_by(tenants.c.name))
    return list(conn.execute(query).scalars())
