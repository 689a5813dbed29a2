"""Secret values: where they are, and the forms they take outside the database.

Which values are secrets is decided by the kind declaration: the free-form
mappings named in ``KindDef.secret_fields`` (a Channel's ``providerConfig``)
and, inside them, keys that look like credentials (``kinds.is_secret_key``).

A secret appears in four forms:
- its **value** — only in the database and, briefly, in memory during apply;
- ``${env:NAME}`` in a bundle — resolved from the environment when planning
  (to diff) and again when applying (to write); the plan keeps the reference
  and a hash, and apply refuses if the value changed in between;
- ``(sensitive)`` in a bundle — "keep what the database has"; it is what
  ``export`` writes, so an export plans to zero changes without leaking;
- sealed (``{"$sealed": token}``) in a plan file — encrypted with the
  tenant's key, which lives in the database: a plan artifact alone reveals
  nothing, and apply needs database access anyway.
State and plan ``before`` bodies keep only a hash of each secret.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

from decisionform.bundle.kinds import KIND_BY_NAME, is_secret_key
from decisionform.errors import PlanFileError, UsageError, quote_address

SENSITIVE = "(sensitive)"
SENSITIVE_CHANGED = "(sensitive, changed)"
HASH_PREFIX = "(sensitive:"
SEALED = "$sealed"
ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
PathT = tuple[str, ...]


def _secret_leaves(mapping: dict[str, Any], prefix: PathT) -> Iterator[tuple[PathT, Any]]:
    for key, value in mapping.items():
        if is_secret_key(str(key)):
            # Everything under a credential-named key is secret, whatever its shape.
            if value is not None:
                yield (*prefix, key), value
        elif isinstance(value, dict):
            yield from _secret_leaves(value, (*prefix, key))


def secret_paths(kind: str, body: dict[str, Any] | None) -> Iterator[tuple[PathT, Any]]:
    """(path inside the body, value) of every secret leaf."""
    kind_def = KIND_BY_NAME.get(kind)
    if body is None or kind_def is None:
        return
    spec = body.get("spec") or {}
    for field in kind_def.secret_fields:
        if isinstance(spec.get(field), dict):
            yield from _secret_leaves(spec[field], ("spec", field))


def has_secrets(kind: str, body: dict[str, Any] | None) -> bool:
    kind_def = KIND_BY_NAME.get(kind)
    if kind_def is None or not kind_def.secret_fields:  # most kinds: asked for every resource, every output
        return False
    return next(secret_paths(kind, body), None) is not None


def map_secrets(kind: str, body: dict[str, Any] | None, fn: Callable[[PathT, Any], Any]) -> Any:
    """A copy of ``body`` with each secret leaf replaced by ``fn(path, value)``."""
    if body is None or not has_secrets(kind, body):
        return body
    out = copy.deepcopy(body)
    for path, value in list(secret_paths(kind, out)):
        parent = out
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = fn(path, value)
    return out


def redact_body(kind: str, body: dict[str, Any] | None, changed: Collection[str] = ()) -> Any:
    """The one redactor: a copy with every secret masked; a changed one (its path in
    ``changed``) shows as ``(sensitive, changed)``. Every output passes through here."""
    def mask(path: PathT, _value: Any) -> str:
        return SENSITIVE_CHANGED if ".".join(path) in changed else SENSITIVE

    return map_secrets(kind, body, mask)


def redact_change(kind: str, before: dict[str, Any] | None, after: dict[str, Any] | None,
                  changed: Collection[str] = ()) -> tuple[Any, Any]:
    return redact_body(kind, before, changed), redact_body(kind, after, changed)


def value_at(body: dict[str, Any] | None, path: PathT) -> Any:
    node: Any = body
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def hash_value(value: Any, key: str) -> str:
    """Keyed (HMAC) so that a weak secret cannot be guessed from its hash in a plan or state file."""
    import orjson

    text = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return "hmac-sha256:" + hmac.new(key.encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()


def hashed(kind: str, body: dict[str, Any] | None, key: str) -> Any:
    """Secrets replaced by ``(sensitive:hmac-sha256:…)``: comparable, never readable (state, plan ``before``)."""
    def fn(_path: PathT, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(HASH_PREFIX):
            return value
        return f"{HASH_PREFIX}{hash_value(value, key)})"

    return map_secrets(kind, body, fn)


def env_refs(kind: str, body: dict[str, Any] | None) -> dict[PathT, str]:
    return {path: m.group(1) for path, value in secret_paths(kind, body)
            if isinstance(value, str) and (m := ENV_REF.match(value))}


def resolve_env(kind: str, name: str, body: dict[str, Any] | None,
                environ: Mapping[str, str] | None = None) -> Any:
    """``${env:NAME}`` replaced by the variable's value; a missing variable is a clear error."""
    env = os.environ if environ is None else environ

    def fn(path: PathT, value: Any) -> Any:
        m = ENV_REF.match(value) if isinstance(value, str) else None
        if m is None:
            return value
        if m.group(1) not in env:
            raise UsageError(f"{quote_address(kind, name)}.{'.'.join(path)}: environment variable "
                             f"{m.group(1)} is not set (the bundle says ${{env:{m.group(1)}}})")
        return env[m.group(1)]

    return map_secrets(kind, body, fn)


def keep_live(kind: str, name: str, desired: dict[str, Any], live: dict[str, Any] | None) -> Any:
    """``(sensitive)`` in the bundle means "keep the database's value"."""
    def fn(path: PathT, value: Any) -> Any:
        if value != SENSITIVE:
            return value
        current = value_at(live, path)
        if current is None:
            raise UsageError(
                f"{quote_address(kind, name)}.{'.'.join(path)} is {SENSITIVE!r} (keep the database's value) "
                "but the database has none: give the value, or ${env:NAME}")
        return current

    return map_secrets(kind, desired, fn)


# ------------------------------------------------------------ sealing (plan file)
@functools.cache  # why: seal/unseal run once per resource; the key is the same for a whole plan
def _fernet(key: str) -> Any:
    from cryptography.fernet import Fernet

    return Fernet(key.encode())


def new_sealing_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def seal(kind: str, body: dict[str, Any] | None, key: str) -> Any:
    """Encrypt every literal secret (``${env:…}`` references stay as they are)."""
    fernet = _fernet(key)

    def fn(_path: PathT, value: Any) -> Any:
        if isinstance(value, str) and ENV_REF.match(value):
            return value
        import orjson

        return {SEALED: fernet.encrypt(orjson.dumps(value)).decode()}

    return map_secrets(kind, body, fn)


def unseal(kind: str, body: dict[str, Any] | None, key: str) -> Any:
    """The inverse of ``seal``: sealed secrets opened (only where ``seal`` puts them, so a body
    without secrets comes back as it is, uncopied)."""
    from cryptography.fernet import InvalidToken

    fernet = _fernet(key)

    def fn(_path: PathT, value: Any) -> Any:
        if not (isinstance(value, dict) and set(value) == {SEALED}):
            return value
        import orjson

        try:
            return orjson.loads(fernet.decrypt(value[SEALED].encode()))
        except InvalidToken as exc:
            raise PlanFileError(f"a sealed secret of {kind} cannot be opened with this tenant's key: "
                                "the plan was made for another database or tenant") from exc

    return map_secrets(kind, body, fn)
