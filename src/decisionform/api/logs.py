"""Structured logs: one JSON line per request, and a last-resort 500 that never leaks a traceback.

The access line holds method, path (never the query string), status, tenant,
role, duration and request id — never a header value, so never a key or the
cron secret. The request id comes from a well-formed ``X-Request-Id`` or is
made here, and is echoed in the response's ``X-Request-Id``.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from decisionform.api.errors import error_body

access_log = logging.getLogger("decisionform.access")
error_log = logging.getLogger("decisionform.api")
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
STACK_FRAMES = 12


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields}``; an exception becomes its type, text and frames."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        doc.update(getattr(record, "fields", None) or {})
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["error"] = {"type": type(exc).__name__, "message": str(exc),
                            "stack": [f"{f.filename}:{f.lineno} in {f.name}"  # the innermost frames
                                      for f in traceback.extract_tb(exc.__traceback__)[-STACK_FRAMES:]]}
        return orjson.dumps(doc, default=str).decode()


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the API's loggers (idempotent)."""
    for name in ("decisionform.access", "decisionform.api"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(getattr(h, "_decisionform", False) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            handler._decisionform = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
        logger.propagate = False


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own lines (startup, shutdown, errors) as JSON too; its access log is replaced by ours."""
    formatter = {"()": f"{__name__}.JsonFormatter"}
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {"version": 1, "disable_existing_loggers": False, "formatters": {"json": formatter},
            "handlers": {"default": handler},
            "loggers": {"uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
                        "uvicorn.error": {"level": "INFO"},
                        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}}}


class AccessLogMiddleware:
    """Times each request, logs it, and turns an unexpected exception into a clean 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        state["request_id"] = request_id
        status = {"code": 500, "sent": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.error("unexpected error", exc_info=True,
                            extra={"fields": {"request_id": request_id, "path": scope.get("path")}})
            if not status["sent"]:
                await _send_500(send_with_id, request_id)
        finally:
            access_log.info("request", extra={"fields": {
                "method": scope.get("method"), "path": scope.get("path"), "status": status["code"],
                "tenant": state.get("tenant"), "role": state.get("role"),
                "duration_ms": round((time.perf_counter() - started) * 1000, 2), "request_id": request_id}})


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID_RE.match(text) else None
    return None


async def _send_500(send: Send, request_id: str) -> None:
    body = orjson.dumps(error_body("internal_error", f"internal error (request id {request_id})"))
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
