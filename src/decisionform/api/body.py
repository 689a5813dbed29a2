"""Request bodies and query strings, read strictly.

Body by Content-Type (DESIGN §7): anything containing ``yaml`` → YAML; JSON
with a top-level ``yamlText`` string → that YAML; a JSON bundle → JSON;
anything else → JSON, then YAML. The body is capped (413) before it is
parsed, and the bundle parser applies its own alias, depth and size limits.

Query strings are strict because a misspelt flag must never change what a
request does: an unknown parameter (``dryrun``, ``dry_run``) or a repeated one
is a 400 naming it, so ``dryRun=false`` is the only way to apply for real.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Request

from decisionform.api.errors import ApiError

BODY_FILENAME = "<request body>"
YAML_TEXT_FILENAME = "<yamlText>"
YAML_TEXT = "yamlText"


async def read_body(request: Request, cap: int) -> bytes:
    """The whole body, or 413 as soon as it is known to be over ``cap`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise _too_large(cap)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _too_large(cap)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(cap: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body is over the cap of {cap} bytes "
                    "(the server's --max-body-bytes)")


def bundle_source(body: bytes, content_type: str | None) -> tuple[bytes | str, str | None, str]:
    """``(text, syntax, filename)`` for ``Engine.load_text``; syntax None = JSON, then YAML."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if not body.strip():
        return body, None, BODY_FILENAME  # the loader's "is empty" message, whatever the type
    if "yaml" in media:
        return body, "yaml", BODY_FILENAME
    is_json = "json" in media
    if (is_json or body.lstrip()[:1] == b"{") and b'"' + YAML_TEXT.encode() + b'"' in body:
        text = _yaml_text(body)
        if text is not None:
            return text, "yaml", YAML_TEXT_FILENAME
    return body, "json" if is_json else None, BODY_FILENAME


def _yaml_text(body: bytes) -> str | None:
    """The ``yamlText`` of a JSON object body, or None when the body is not such an object."""
    try:
        doc = json.loads(body, object_pairs_hook=_unique_top_level)
    except _DuplicateKey as exc:
        raise ApiError(400, "parse_error", f"{BODY_FILENAME}: duplicate key {exc.key!r}") from None
    except (ValueError, RecursionError):
        return None  # the bundle parser reports it, located
    if not isinstance(doc, dict) or YAML_TEXT not in doc:
        return None
    extra = sorted(set(doc) - {YAML_TEXT})
    if extra:
        raise ApiError(400, "parse_error", f"a body with {YAML_TEXT} holds nothing else; unexpected "
                       f"key{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))}")
    if not isinstance(doc[YAML_TEXT], str):
        raise ApiError(400, "parse_error", f"{YAML_TEXT} must be a string holding the YAML bundle")
    return str(doc[YAML_TEXT])


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_top_level(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key == YAML_TEXT and key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


# ------------------------------------------------------------------ query strings
def strict_query(*allowed: str, repeatable: Iterable[str] = ()) -> Callable[[Request], None]:
    """A dependency refusing unknown or repeated query parameters (400, naming them)."""
    multi = set(repeatable)

    def dependency(request: Request) -> None:
        seen: set[str] = set()
        for name, _value in request.query_params.multi_items():
            if name not in allowed:
                hint = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6) or \
                    [a for a in allowed if a.lower() == name.lower().replace("_", "")]
                tail = f"; did you mean {hint[0]!r}?" if hint else ""
                known = ", ".join(allowed) if allowed else "none"
                raise ApiError(400, "unknown_parameter",
                               f"unknown query parameter {name!r}{tail} (this route takes: {known})",
                               details=[{"message": "unknown query parameter", "parameter": name}])
            if name in seen and name not in multi:
                raise ApiError(400, "repeated_parameter", f"query parameter {name!r} is given more than once",
                               details=[{"message": "repeated query parameter", "parameter": name}])
            seen.add(name)

    return dependency


def flag(value: str | None, default: bool = False) -> bool:
    """A validated ``true``/``false`` query value (FastAPI has already refused anything else)."""
    return default if value is None else value == "true"
