"""Drift: state (what the engine last applied) against the live database.

``changed`` — a managed row edited behind the engine's back (field paths);
``deleted`` — a managed row gone (soft- or hard-deleted);
``unmanaged`` — a live row the engine never created (git does not have it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from decisionform.bundle.compare import changed_paths
from decisionform.bundle.kinds import KIND_ORDER
from decisionform.bundle.model import split_address
from decisionform.bundle.secrets import hashed, redact_change
from decisionform.errors import StateError
from decisionform.state.model import State, StateEntry

DOCUMENT_VERSION = "1.0"
MASS_DELETE_FRACTION = 0.5  # more than this share of managed rows missing looks like the wrong database
MASS_DELETE_MIN = 4


@dataclass
class DriftItem:
    kind: str
    name: str
    status: str  # changed | deleted | unmanaged
    changed: list[str] = field(default_factory=list)
    before: dict[str, Any] | None = None  # state's view
    after: dict[str, Any] | None = None  # live view

    def as_document(self) -> dict[str, Any]:
        before, after = redact_change(self.kind, self.before, self.after, self.changed)
        doc: dict[str, Any] = {"kind": self.kind, "name": self.name, "status": self.status,
                               "changedFields": list(self.changed)}
        if before is not None:
            doc["before"] = before
        if after is not None:
            doc["after"] = after
        return doc


@dataclass
class DriftReport:
    tenant: str
    database: str
    created_at: str
    items: list[DriftItem]
    managed: int = 0

    def summary(self) -> dict[str, int]:
        counts = {"changed": 0, "deleted": 0, "unmanaged": 0}
        for item in self.items:
            counts[item.status] += 1
        return counts

    @property
    def has_drift(self) -> bool:
        return bool(self.items)

    def to_document(self) -> dict[str, Any]:
        return {"formatVersion": DOCUMENT_VERSION, "tenant": self.tenant, "database": self.database,
                "createdAt": self.created_at, "drift": [i.as_document() for i in self.items],
                "summary": self.summary()}


def _order(addr: str) -> tuple[int, str]:
    kind, name = split_address(addr)
    return (KIND_ORDER.get(kind, 99), name)


def compute_drift(state: State, live_rows: dict[str, Any], key: str) -> list[DriftItem]:
    """``live_rows``: address → LiveRow (non-deleted rows); secrets compare by keyed hash."""
    items: list[DriftItem] = []
    for addr in sorted(set(state.resources) | set(live_rows), key=_order):
        kind, name = split_address(addr)
        entry, row = state.resources.get(addr), live_rows.get(addr)
        if entry is None:
            items.append(DriftItem(kind, name, "unmanaged", after=hashed(kind, row.resource.body(), key)))
        elif row is None:
            items.append(DriftItem(kind, name, "deleted", before=entry.body()))
        elif row.resource.digest() == entry.digest:
            continue  # the same JSON as recorded (secrets would hash apart): no drift, nothing to diff
        else:
            body = hashed(kind, row.resource.body(), key)
            paths = changed_paths(entry.body(), body)
            if paths:
                items.append(DriftItem(kind, name, "changed", paths, before=entry.body(), after=body))
    return items


def accept_drift(state: State, live_rows: dict[str, Any], key: str, *, force: bool) -> dict[str, StateEntry]:
    """State resources after ``refresh --update-state``: live values of managed rows; never adoption."""
    missing = [a for a in state.resources if a not in live_rows]
    managed = len(state.resources)
    if not force and managed >= MASS_DELETE_MIN and len(missing) > managed * MASS_DELETE_FRACTION:
        raise StateError(
            f"{len(missing)} of {managed} managed resources look deleted at once; this usually means the "
            "wrong database or tenant. State was not updated; check --database-url / --tenant, or pass "
            "--force if they really were deleted")
    out: dict[str, StateEntry] = {}
    for addr in state.resources:
        row = live_rows.get(addr)
        if row is not None:
            out[addr] = StateEntry.of(row.id, hashed(row.kind, row.resource.body(), key))
    return out
