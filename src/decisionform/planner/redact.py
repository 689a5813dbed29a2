"""The one redactor: every output passes secret values through here.

Which fields hold secrets is decided by the kind declaration
(``KindDef.secret_fields``: free-form mappings such as a Channel's
``providerConfig``) and the key words of ``kinds.is_secret_key``. A secret
that differs between before and after shows as ``(sensitive, changed)``.
"""

from __future__ import annotations

import copy
from typing import Any

from decisionform.bundle.kinds import KIND_BY_NAME, is_secret_key

SENSITIVE = "(sensitive)"
SENSITIVE_CHANGED = "(sensitive, changed)"


def _secret_maps(kind: str, body: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    kind_def = KIND_BY_NAME.get(kind)
    if body is None or kind_def is None:
        return {}
    spec = body.get("spec") or {}
    return {f: spec[f] for f in kind_def.secret_fields if isinstance(spec.get(f), dict)}


def _mask(mapping: dict[str, Any], other: dict[str, Any] | None) -> None:
    for key, value in mapping.items():
        other_value = other.get(key) if isinstance(other, dict) else None
        if isinstance(value, dict):
            _mask(value, other_value if isinstance(other_value, dict) else None)
        elif is_secret_key(str(key)) and value is not None:
            changed = other is not None and other_value != value
            mapping[key] = SENSITIVE_CHANGED if changed else SENSITIVE


def redact_body(kind: str, body: dict[str, Any] | None, other: dict[str, Any] | None = None) -> Any:
    """A copy of ``body`` with secret values masked (``other``: the other side of a diff)."""
    if body is None:
        return None
    masked = copy.deepcopy(body)
    others = _secret_maps(kind, other)
    for name, mapping in _secret_maps(kind, masked).items():
        _mask(mapping, others.get(name, {}) if other is not None else None)
    return masked


def redact_change(kind: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[Any, Any]:
    if before is not None and after is not None:
        return redact_body(kind, before, after), redact_body(kind, after, before)
    return redact_body(kind, before), redact_body(kind, after)


def secret_values(kind: str, body: dict[str, Any] | None) -> list[str]:
    """The secret strings inside a body (for scrubbing messages)."""
    out: list[str] = []

    def walk(mapping: dict[str, Any]) -> None:
        for key, value in mapping.items():
            if isinstance(value, dict):
                walk(value)
            elif is_secret_key(str(key)) and isinstance(value, str) and value:
                out.append(value)

    for mapping in _secret_maps(kind, body).values():
        walk(mapping)
    return out
