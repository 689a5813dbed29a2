"""Who is calling: ``X-API-Key`` binds a tenant and a role; roles are viewer < editor < admin.

- no credentials → 401;
- an unknown, revoked or expired key, a key sent with an ``X-Tenant-Id`` of
  another tenant, or a role too low → 403;
- ``X-Tenant-Id`` without a key is honoured only when the server was started
  with ``--trust-tenant-header`` (a proxy in front authenticates and sets it,
  and strips it from clients). Such a request's role is the proxy's
  ``X-Role`` (default viewer, the least) and its audit actor ``X-Actor``.

The cron route takes neither: ``Authorization: Bearer $DECISIONFORM_CRON_SECRET``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from decisionform.api.errors import ApiError
from decisionform.engine import Engine
from decisionform.errors import AccessDenied, TenantError
from decisionform.providers.apikeys import ROLE_RANK as _RANK
from decisionform.providers.apikeys import ROLES

_CHALLENGE = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                              description="A key from `decisionform apikey create`; it names its tenant and role.")
tenant_header = APIKeyHeader(name="X-Tenant-Id", auto_error=False, scheme_name="TrustedTenant",
                             description="Honoured without a key only when the server runs with "
                                         "--trust-tenant-header (behind a proxy that sets it).")
cron_bearer = HTTPBearer(auto_error=False, scheme_name="CronSecret",
                         description="Authorization: Bearer $DECISIONFORM_CRON_SECRET")


@dataclass(frozen=True)
class Principal:
    tenant: str
    role: str
    actor: str  # the audit actor: the key's name, or the proxy's X-Actor
    key_id: str | None = None

    def allows(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]


def _root_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _from_key(request: Request, key: str, tenant_header_value: str | None) -> Principal:
    try:
        record = _root_engine(request).authenticate(key)
    except AccessDenied as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    if tenant_header_value and tenant_header_value != record.tenant:
        raise ApiError(403, "wrong_tenant", "X-Tenant-Id names another tenant than the API key's")
    return Principal(tenant=record.tenant, role=record.role, actor=record.name, key_id=record.id)


def _from_trusted_header(request: Request, tenant: str) -> Principal:
    role = request.headers.get("X-Role") or "viewer"
    if role not in _RANK:
        raise ApiError(403, "forbidden", f"X-Role must be one of {', '.join(ROLES)}")
    try:
        _root_engine(request).for_tenant(tenant).tenant_id  # noqa: B018  (checks the tenant exists)
    except TenantError:
        raise ApiError(403, "forbidden", "unknown tenant in X-Tenant-Id") from None
    actor = (request.headers.get("X-Actor") or "trusted proxy")[:255]
    return Principal(tenant=tenant, role=role, actor=actor)


def authenticate(request: Request, key: str | None = Depends(api_key_header),
                 tenant: str | None = Depends(tenant_header)) -> Principal:
    if key:
        principal = _from_key(request, key, tenant)
    elif tenant and request.app.state.settings.trust_tenant_header:
        principal = _from_trusted_header(request, tenant)
    else:
        hint = (" (X-Tenant-Id alone is honoured only when the server runs with --trust-tenant-header)"
                if tenant else "")
        raise ApiError(401, "unauthorized", f"no credentials: send an X-API-Key header{hint}", headers=_CHALLENGE)
    state = request.scope.setdefault("state", {})
    state["tenant"], state["role"] = principal.tenant, principal.role
    return principal


def require(role: str) -> Callable[..., Principal]:
    """A dependency: the caller, if their role is at least ``role``."""

    def dependency(principal: Principal = Depends(authenticate)) -> Principal:
        if not principal.allows(role):
            raise ApiError(403, "forbidden", f"this route needs the {role} role; the caller has {principal.role}")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


def require_cron(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(cron_bearer)) -> None:
    secret: str | None = request.app.state.settings.cron_secret
    given = credentials.credentials if credentials is not None else ""
    if not secret:
        raise ApiError(401, "unauthorized", "the drift-check route is disabled: the server has no "
                       "DECISIONFORM_CRON_SECRET", headers={"WWW-Authenticate": "Bearer"})
    if not given or not hmac.compare_digest(given.encode(), secret.encode()):
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <the cron secret>",
                       headers={"WWW-Authenticate": "Bearer"})
