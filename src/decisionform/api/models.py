"""Response and request shapes, for ``/openapi.json`` (DESIGN §6, §7).

The routes return the engine's own documents (``Plan.to_document`` and
friends); these models describe them for clients and for schemathesis, and
allow extra keys so a document can grow without breaking its schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(_Open):
    code: str = Field(description="Stable machine-readable code, e.g. invalid_bundle, locked, stale_plan.")
    message: str = Field(description="The same located message the CLI prints.")
    details: list[dict[str, Any]] = Field(description="One entry per problem (file, line, resource, path).")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Summary(BaseModel):
    created: int
    updated: int
    deleted: int
    unchanged: int


class DiffEntry(_Open):
    kind: str
    name: str
    op: Literal["create", "update", "delete", "unchanged"]
    changedFields: list[str] = Field(default_factory=list)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class PlanOptionsDoc(_Open):
    prune: bool
    allowEmpty: bool
    kinds: list[str]
    targets: list[str]


class PlanResult(_Open):
    """The JSON of ``decisionform plan --format json``, the same for diff and apply."""

    formatVersion: str
    planId: str
    tenant: str
    createdAt: str
    options: PlanOptionsDoc
    dryRun: bool
    diffs: list[DiffEntry]
    summary: Summary
    applied: bool | None = Field(None, description="apply only: whether anything was written.")


class FilesExport(BaseModel):
    manifest: dict[str, Any]
    files: dict[str, str] = Field(description="relative path → YAML text, one resource per file.")


class AuditRow(_Open):
    id: int
    action: str
    entityType: str | None
    entityName: str | None
    before: Any
    after: Any
    summary: str | None
    actor: str
    tenant: str
    timestamp: str
    prevHash: str
    integrityHash: str


class ChainCheckResult(BaseModel):
    intact: bool
    total: int
    brokenAtId: int | None = Field(None, description="Present only when the chain is broken.")


class TenantDriftCheck(_Open):
    tenant: str
    reportId: int | None = None
    summary: dict[str, int] | None = None
    error: ErrorDetail | None = None


class DriftCheckResult(BaseModel):
    checked: int
    tenants: list[TenantDriftCheck]


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in ((400, "Bad bundle, bad query or bad body (located messages)"),
                         (401, "No credentials"), (403, "Unknown, revoked or expired key, or role too low"),
                         (404, "Unknown tenant"), (409, "Locked or stale"), (413, "Body over the cap"),
                         (500, "A real fault of the database"))
}
