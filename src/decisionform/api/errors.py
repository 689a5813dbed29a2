"""Errors as HTTP responses: one envelope, ``{"error": {"code", "message", "details"}}``.

A ``DecisionformError`` is the user's (4xx) except ``DatabaseError``, a real
fault of the database (500, with the database's reason and no traceback).
Starlette's own errors (404, 405) and request validation (bad query values)
use the same envelope; validation is a 400, as a bad bundle is.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from decisionform.errors import (
    AccessDenied,
    AlreadyAppliedError,
    BundleError,
    DatabaseError,
    DecisionformError,
    LockedError,
    PlanError,
    PruneRefused,
    StalePlanError,
    StateConflictError,
    StateError,
    TenantError,
    UsageError,
)

log = logging.getLogger("decisionform.api")

# Most specific first: the first class in an error's MRO found here wins.
STATUS: dict[type[DecisionformError], int] = {
    BundleError: 400,
    UsageError: 400,
    PruneRefused: 400,
    StalePlanError: 409,
    AlreadyAppliedError: 409,
    PlanError: 400,
    LockedError: 409,
    StateConflictError: 409,
    StateError: 409,
    TenantError: 404,
    AccessDenied: 403,
    DatabaseError: 500,
}
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
               500: "internal_error"}


class ApiError(Exception):
    """An HTTP-level refusal (credentials, role, body size, query parameters)."""

    def __init__(self, status: int, code: str, message: str, *, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(_encodable(error_body(code, message, details)), status_code=status, headers=headers)


def _encodable(value: Any) -> Any:
    """``value`` with lone surrogates written as ``\\udXXX``. Why: a bundle error quotes the input
    (a name escaped as "\\ud800" in JSON), and UTF-8 cannot encode a lone surrogate, so the
    response for that 400 failed to render and the client got a 500."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8") if not value.isascii() else value
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    return value


def status_for(exc: DecisionformError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _request_id(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


async def _decisionform_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DecisionformError)
    status = status_for(exc)
    if status >= 500:
        log.error("request failed", extra={"fields": {"request_id": _request_id(request), "status": status,
                                                      "code": exc.code, "error": str(exc)}})
    return error_response(status, exc.code, str(exc), exc.details())


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404:
        message = f"no route {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        where = f"{loc[0]} parameter {'.'.join(loc[1:])}" if len(loc) > 1 else ".".join(loc)
        details.append({"message": f"{where}: {err.get('msg', 'invalid')}", "location": where})
    message = "; ".join(d["message"] for d in details) or "invalid request"
    return error_response(400, "bad_request", message, details)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DecisionformError, _decisionform_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
