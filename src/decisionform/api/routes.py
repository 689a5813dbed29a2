"""The routes of DESIGN §7. Each one: check the caller and the query, read the body, call the
engine in a worker thread (parsing and planning are CPU work), return the engine's document.

``diff`` and ``apply`` return ``Plan.to_document`` — the JSON that ``decisionform plan
--format json`` prints — so the CLI, the diff and the dry run agree by construction.
``apply`` plans and applies under one tenant lease (``Engine.apply_bundle``), so a
repeated request converges instead of applying twice.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from decisionform.api.auth import Principal, require, require_cron
from decisionform.api.body import bundle_source, flag, read_body, strict_query
from decisionform.api.errors import ApiError, error_body, status_for
from decisionform.api.models import (
    ERRORS,
    AuditRow,
    ChainCheckResult,
    DriftCheckResult,
    FilesExport,
    PlanResult,
)
from decisionform.engine import Engine

router = APIRouter(prefix="/api/v1")
Flag = Literal["true", "false"]
_FILENAME_JUNK = re.compile(r"[^A-Za-z0-9._-]+")

BUNDLE_BODY: dict[str, Any] = {"requestBody": {"required": True, "description": (
    "A bundle (DESIGN §1). By Content-Type: anything containing `yaml` is YAML; JSON with a top-level "
    "`yamlText` string is that YAML; other JSON is the bundle; anything else is read as JSON, then YAML."),
    "content": {
        "application/yaml": {"schema": {"type": "string", "description": "A YAML bundle (YAML 1.2)."}},
        "application/json": {"schema": {"anyOf": [{"$ref": "#/components/schemas/Bundle"},
                                                  {"$ref": "#/components/schemas/YamlTextBody"}]}},
    }}}
PLAN_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"model": PlanResult}, **ERRORS}
# Checked after the caller (401/403 first), before the body is read.
PLAN_QUERY: Any = Depends(strict_query("dryRun", "prune", "allowEmpty", "kinds", repeatable=["kinds"]))


def _engine(request: Request, principal: Principal) -> Engine:
    root: Engine = request.app.state.engine
    return root.for_tenant(principal.tenant)


def _json(doc: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(doc), status_code=status, media_type="application/json")


def _kinds(kinds: list[str] | None) -> list[str]:
    return [k for k in (kinds or []) if k.strip()]


def _check_allow_empty(allow_empty: str | None) -> None:
    if flag(allow_empty):
        raise ApiError(400, "allow_empty_refused", (
            "allowEmpty=true is not accepted over HTTP: through the API an empty bundle never prunes. "
            "To delete every resource, review and apply a plan with the CLI: "
            "decisionform plan EMPTY.yaml --prune --allow-empty --out plan.out"))


def _plan_document(engine: Engine, body: bytes, content_type: str | None, *, prune: bool, kinds: list[str],
                   dry_run: bool, actor: str | None, lock_timeout: float) -> dict[str, Any]:
    """Load, plan and (unless ``dry_run``) apply under one lease; the plan's JSON document."""
    options = engine.options(prune=prune, kinds=kinds)
    text, syntax, filename = bundle_source(body, content_type)
    bundle = engine.load_text(text, filename=filename, syntax=syntax)
    if prune and not bundle.resources:
        raise ApiError(400, "prune_refused", (
            f"{filename} has no resources: with prune=true that would delete every managed resource. "
            "Through the API an empty bundle never prunes; to really delete everything, review and apply a "
            "plan with the CLI's --allow-empty"))
    refs = engine.env_references(bundle)
    if refs:
        raise ApiError(400, "env_reference_refused", (
            "${env:NAME} secret references are resolved only by the CLI, never from the server's "
            "environment; give the value, or (sensitive) to keep the database's: " + "; ".join(refs)),
            details=[{"message": ref} for ref in refs])
    result = engine.apply_bundle(bundle, options, actor=actor, lock_timeout=lock_timeout, dry_run=dry_run)
    doc = result.plan.to_document(dry_run=dry_run)
    doc.pop("database", None)  # the server's database location is not the caller's business
    doc["applied"] = result.applied
    return doc


# ------------------------------------------------------------------ export
@router.get("/gitops/export", response_model=None,
            responses={200: {"description": "The bundle (YAML or JSON text), or for layout=files a JSON "
                                             "object of files.",
                             "content": {"application/yaml": {"schema": {"type": "string"}},
                                         "application/json": {"schema": {"anyOf": [
                                             {"$ref": "#/components/schemas/Bundle"},
                                             {"$ref": "#/components/schemas/FilesExport"}]}}}},
                       **ERRORS})
def export(request: Request, fmt: Literal["yaml", "json"] = Query("yaml", alias="format"),
           layout: Literal["bundle", "files"] = Query("bundle"),
           principal: Principal = Depends(require("viewer")),
           _query: None = Depends(strict_query("format", "layout"))) -> Response:
    """The tenant's live configuration as a bundle; layout=files gives `{manifest, files: {path: YAML}}`."""
    engine = _engine(request, principal)
    result = engine.export(fmt=fmt, layout=layout)
    if layout == "files":
        return _json(FilesExport(manifest=result.manifest, files=result.files).model_dump())
    media = "application/json" if fmt == "json" else "application/yaml"
    return Response(result.text or "", media_type=f"{media}; charset=utf-8",
                    headers={"Content-Disposition": _attachment(principal.tenant, fmt)})


def _attachment(tenant: str, ext: str) -> str:
    name = f"decisionform-export-{tenant}.{ext}"
    ascii_name = f"decisionform-export-{_FILENAME_JUNK.sub('-', tenant).strip('-') or 'tenant'}.{ext}"
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


# ------------------------------------------------------------------ diff and apply
@router.post("/gitops/diff", response_model=None, openapi_extra=BUNDLE_BODY, responses=PLAN_RESPONSES)
async def diff(request: Request, principal: Principal = Depends(require("viewer")), _query: None = PLAN_QUERY,
               prune: Flag | None = Query(None, description="Plan deletes of managed resources the bundle lacks."),
               kinds: list[str] | None = Query(None, description="Only these kinds (comma-separated)."),
               allow_empty: Flag | None = Query(None, alias="allowEmpty",
                                                description="Only `false`: an empty bundle never prunes via HTTP."),
               dry_run: Flag | None = Query(None, alias="dryRun", description="Ignored: a diff never writes."),
               ) -> Response:
    """The plan of the posted bundle against the tenant's database. Nothing is written."""
    _check_allow_empty(allow_empty)
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    doc = await run_in_threadpool(
        _plan_document, _engine(request, principal), body, request.headers.get("content-type"),
        prune=flag(prune), kinds=_kinds(kinds), dry_run=True, actor=None, lock_timeout=0.0)
    return _json(doc)


@router.post("/gitops/apply", response_model=None, openapi_extra=BUNDLE_BODY, responses=PLAN_RESPONSES)
async def apply(request: Request, principal: Principal = Depends(require("editor")), _query: None = PLAN_QUERY,
                dry_run: Flag | None = Query(None, alias="dryRun",
                                             description="A dry run unless exactly `false`."),
                prune: Flag | None = Query(None, description="Delete managed resources the bundle lacks."),
                allow_empty: Flag | None = Query(None, alias="allowEmpty",
                                                 description="Only `false`: an empty bundle never prunes via HTTP."),
                kinds: list[str] | None = Query(None, description="Only these kinds (comma-separated)."),
                ) -> Response:
    """Plan and apply the posted bundle under one tenant lease; a dry run unless `dryRun=false`."""
    _check_allow_empty(allow_empty)
    body = await read_body(request, request.app.state.settings.max_body_bytes)
    settings = request.app.state.settings
    doc = await run_in_threadpool(
        _plan_document, _engine(request, principal), body, request.headers.get("content-type"),
        prune=flag(prune), kinds=_kinds(kinds), dry_run=dry_run != "false", actor=principal.actor,
        lock_timeout=settings.lock_timeout)
    return _json(doc)


# ------------------------------------------------------------------ audit
@router.get("/audit-logs", response_model=list[AuditRow], responses=ERRORS)
def audit_logs(request: Request, action: str | None = Query(None, max_length=64,
                                                            description="e.g. gitops_apply, gitops_update"),
               limit: int = Query(100, ge=1, le=1000), principal: Principal = Depends(require("admin")),
               _query: None = Depends(strict_query("action", "limit"))) -> Any:
    """The tenant's audit rows, newest first. Rows are only ever inserted: no route changes them."""
    return _engine(request, principal).audit_logs(action=action, limit=limit)


@router.get("/audit-logs/verify", response_model=ChainCheckResult, response_model_exclude_none=True,
            responses=ERRORS)
def verify_audit(request: Request, principal: Principal = Depends(require("admin")),
                 _query: None = Depends(strict_query())) -> ChainCheckResult:
    """Walk the tenant's hash chain: intact, or the id of the first row that no longer matches."""
    check = _engine(request, principal).verify_audit()
    return ChainCheckResult(intact=check.intact, total=check.total, brokenAtId=check.broken_at_id)


# ------------------------------------------------------------------ cron
@router.post("/cron/gitops-drift-check", response_model=DriftCheckResult, response_model_exclude_none=True,
             responses=ERRORS, dependencies=[Depends(require_cron), Depends(strict_query())])
def drift_check(request: Request) -> DriftCheckResult:
    """Refresh every tenant that has state against it and store a drift report per tenant."""
    root: Engine = request.app.state.engine
    tenants: list[dict[str, Any]] = []
    for check in root.drift_check_all():
        entry: dict[str, Any] = {"tenant": check.tenant, "reportId": check.report_id}
        if check.report is not None:
            entry["summary"] = check.report.summary()
        if check.error is not None:
            entry["error"] = error_body(check.error.code, str(check.error), check.error.details())["error"]
            entry["status"] = status_for(check.error)
        tenants.append(entry)
    return DriftCheckResult.model_validate({"checked": len(tenants), "tenants": tenants})
