"""The state document: ``{format_version, lineage, serial, resources}``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from decisionform.bundle.model import PROTECT_ANNOTATION, digest
from decisionform.errors import StateError

STATE_FORMAT_VERSION = 1
MAX_APPLIED_IDS = 200  # remembered plan ids (a plan with changes applies at most once)


@dataclass
class StateEntry:
    id: str
    digest: str
    metadata: dict[str, Any]
    spec: dict[str, Any]

    @property
    def protected(self) -> bool:
        annotations = self.metadata.get("annotations") or {}
        return str(annotations.get(PROTECT_ANNOTATION, "")).lower() == "true"

    def body(self) -> dict[str, Any]:
        return {"metadata": self.metadata, "spec": self.spec}

    @classmethod
    def of(cls, row_id: str, body: dict[str, Any]) -> StateEntry:
        return cls(id=row_id, digest=digest(body), metadata=body.get("metadata", {}), spec=body.get("spec", {}))


@dataclass
class State:
    lineage: str | None = None
    serial: int = 0
    resources: dict[str, StateEntry] = field(default_factory=dict)
    applied_plan_ids: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.lineage is None

    def next(self, resources: dict[str, StateEntry], plan_id: str | None) -> State:
        """The state after one more apply: serial + 1, same lineage (a new one if none)."""
        applied = list(self.applied_plan_ids)
        if plan_id:
            applied = ([*applied, plan_id])[-MAX_APPLIED_IDS:]
        return State(lineage=self.lineage or str(uuid.uuid4()), serial=self.serial + 1,
                     resources=dict(sorted(resources.items())), applied_plan_ids=applied)

    def to_document(self) -> dict[str, Any]:
        return {
            "format_version": STATE_FORMAT_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "resources": {addr: {"id": e.id, "digest": e.digest, "metadata": e.metadata, "spec": e.spec}
                          for addr, e in sorted(self.resources.items())},
            "applied_plan_ids": list(self.applied_plan_ids),
        }

    @classmethod
    def from_document(cls, doc: Any, where: str) -> State:
        if not isinstance(doc, dict):
            raise StateError(f"{where}: not a decisionform state document")
        version = doc.get("format_version")
        if version != STATE_FORMAT_VERSION:
            raise StateError(f"{where}: state format_version {version!r}; this version reads {STATE_FORMAT_VERSION}")
        try:
            resources = {addr: StateEntry(id=e["id"], digest=e["digest"], metadata=e.get("metadata") or {},
                                          spec=e.get("spec") or {})
                         for addr, e in sorted((doc.get("resources") or {}).items())}
            return cls(lineage=doc.get("lineage"), serial=int(doc.get("serial", 0)), resources=resources,
                       applied_plan_ids=list(doc.get("applied_plan_ids") or []))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"{where}: damaged state document ({exc})") from exc
