"""The app factory. Stateless: all a worker keeps is its settings and a database pool.

``create_app(ApiSettings(...))`` for tests and embedding; ``create_app_from_env``
is what ``decisionform serve`` hands uvicorn (every worker process builds its own
app from the same environment).
"""

from __future__ import annotations

import copy
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from decisionform import __version__
from decisionform.api import errors
from decisionform.api.logs import AccessLogMiddleware, configure_logging
from decisionform.api.models import FilesExport
from decisionform.api.routes import router
from decisionform.bundle.jsonschema import bundle_json_schema
from decisionform.engine import DEFAULT_DATABASE_URL, Engine, Settings
from decisionform.errors import UsageError
from decisionform.providers.database import Database
from decisionform.state.locks import parse_duration

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ApiSettings:
    database_url: str = DEFAULT_DATABASE_URL
    trust_tenant_header: bool = False  # honour X-Tenant-Id without a key (behind a trusted proxy only)
    cron_secret: str | None = None  # DECISIONFORM_CRON_SECRET; the drift-check route is off without it
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    lock_timeout: float = 0.0  # how long an apply waits for the tenant's lease before 409

    @classmethod
    def from_env(cls) -> ApiSettings:
        env = os.environ
        try:
            max_body = int(env.get("DECISIONFORM_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
        except ValueError:
            raise UsageError("DECISIONFORM_MAX_BODY_BYTES must be a number of bytes") from None
        return cls(database_url=env.get("DECISIONFORM_DATABASE_URL") or DEFAULT_DATABASE_URL,
                   trust_tenant_header=env.get("DECISIONFORM_TRUST_TENANT_HEADER", "").lower() in _TRUE,
                   cron_secret=env.get("DECISIONFORM_CRON_SECRET") or None,
                   max_body_bytes=max_body,
                   lock_timeout=parse_duration(env.get("DECISIONFORM_API_LOCK_TIMEOUT") or "0s"))


def create_app(settings: ApiSettings | None = None, *, database: Database | None = None) -> FastAPI:
    """The FastAPI app; ``database`` lets a caller share a pool (tests), else one is made."""
    settings = settings or ApiSettings.from_env()
    if settings.max_body_bytes < 1:
        raise UsageError("the body cap must be at least 1 byte")
    db = database or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if database is None:
            db.dispose()

    app = FastAPI(title="decisionform", version=__version__, lifespan=lifespan,
                  description="GitOps export, diff and apply of a tenant's decisioning configuration "
                              "(DESIGN §7). Errors are `{\"error\": {code, message, details}}`.")
    app.state.settings = settings
    app.state.engine = Engine(Settings(database_url=settings.database_url, state="db"), database=db)
    errors.install(app)
    app.include_router(router)
    app.add_middleware(AccessLogMiddleware)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    configure_logging()
    return app


def create_app_from_env() -> FastAPI:
    return create_app(ApiSettings.from_env())


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the bundle's JSON Schema (its ``$defs`` moved into components)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description,
                             routes=app.routes)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)  # validation errors are 400s here
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        bundle = copy.deepcopy(bundle_json_schema())
        bundle.pop("$schema", None)
        for name, definition in bundle.pop("$defs", {}).items():
            components[f"Bundle_{name}"] = _rewrite_refs(definition)
        components["Bundle"] = _rewrite_refs(bundle)
        components["FilesExport"] = FilesExport.model_json_schema(ref_template="#/components/schemas/{model}")
        components["YamlTextBody"] = {
            "type": "object", "required": ["yamlText"], "additionalProperties": False,
            "properties": {"yamlText": {"type": "string", "description": "The text of a YAML bundle."}}}
        app.openapi_schema = schema
    return app.openapi_schema


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/Bundle_") if k == "$ref" and isinstance(v, str)
                    else _rewrite_refs(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node
