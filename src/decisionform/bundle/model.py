"""Resources in canonical form, shared by the bundle side and the live side.

``canonical_spec`` is the one normaliser of DESIGN §4: desired specs (from a
bundle) and live specs (read from the database) both pass through it, so
defaults are filled, empty values (``null``, ``[]``, ``{}``) read as absent,
key order is irrelevant and integral floats compare equal to integers.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel

from decisionform.bundle.kinds import KIND_BY_NAME, KindDef, SubModel, parse_path
from decisionform.errors import quote_address

API_VERSION = "decisionform/v1"
PROTECT_ANNOTATION = "decisionform/prevent-destroy"
PathT = tuple[str | int, ...]


def normalize_name(name: str) -> str:
    """One name after NFC normalisation (DESIGN §1 identity)."""
    return unicodedata.normalize("NFC", name)


def address(kind: str, name: str) -> str:
    """Graph address used by --target, state and plans: ``Offer.Gold Card``."""
    return f"{kind}.{name}"


def split_address(addr: str) -> tuple[str, str]:
    kind, _, name = addr.partition(".")
    return kind, name


def format_path(path: PathT) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_KEEP = frozenset({str, int, bool})  # scalars that prune returns as they are


def prune(value: Any) -> Any:
    """Drop None / {} / [] from mappings, recursively; integral floats to int.

    Every spec and every live row passes through here, so the common types are
    dispatched inline (``type(x) is``) instead of by a call each.
    """
    kind = type(value)
    if kind is dict:
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            if type(v) not in _KEEP:
                v = prune(v)
                if v is None or v == {} or v == []:
                    continue
            out[k] = v
        return out
    if kind is list:
        return [v if type(v) in _KEEP or v is None else prune(v) for v in value]
    if kind in _KEEP or value is None:
        return value
    if isinstance(value, dict):  # a subclass: the same rules, the slow way
        return prune(dict(value))
    if isinstance(value, list):
        return prune(list(value))
    if isinstance(value, float) and value.is_integer() and -(2**63) <= value < 2**64:
        # Every integral float a 64-bit JSON integer can hold: PostgreSQL's JSONB keeps 4.4e16
        # as the number 44000000000000000, which reads back as an int; both sides must agree.
        return int(value)
    return value


@functools.cache
def _items_key(items: str) -> str | None:
    steps = parse_path(items)
    return (steps[0].key or "") if steps else None


def sub_containers(spec: dict[str, Any], sub: SubModel) -> list[tuple[PathT, dict[str, Any]]]:
    """The mappings that hold a ``sub.part`` chosen by ``sub.selector``."""
    if not sub.items:
        return [((), spec)]
    key = _items_key(sub.items)
    items = spec.get(key) if key is not None else None
    if not isinstance(items, list):
        return []
    return [((key or "", i), item) for i, item in enumerate(items) if isinstance(item, dict)]


def apply_sub_models(kind: KindDef, spec: dict[str, Any]) -> None:
    """Validate and normalise the selector-dependent parts in place.

    Raises pydantic's ``ValidationError`` at the first invalid part, leaving
    ``spec`` untouched (``validate.py`` then collects every part's errors).
    """
    done: list[tuple[dict[str, Any], str, Any]] = []
    for sub in kind.sub_models:
        for _, container in sub_containers(spec, sub):
            model = sub.models.get(container.get(sub.selector, ""))
            if model is None:
                continue
            part = container.get(sub.part) or {}
            done.append((container, sub.part, model.model_validate(part).model_dump(mode="json", by_alias=True)))
    for container, key, value in done:
        container[key] = value


def canonical_spec(kind: KindDef, spec: dict[str, Any]) -> dict[str, Any]:
    """Validate ``spec`` with the kind's model and return its canonical form.

    Raises ``pydantic.ValidationError`` when the spec is invalid; callers
    that hold a location translate it (``validate.py``).
    """
    model: BaseModel = kind.spec_model.model_validate(spec)
    dumped = model.model_dump(mode="json", by_alias=True)
    apply_sub_models(kind, dumped)
    normalize_references(kind, dumped)
    return prune(dumped)


def normalize_references(kind: KindDef, spec: dict[str, Any]) -> None:
    """References name resources, and names are compared after NFC normalisation:
    ``Cafe\u0301`` in a reference finds the resource named ``Café``."""
    for ref in kind.refs:
        ref.rewrite(spec, normalize_name)
    for placement in spec.get("placements") or []:
        if isinstance(placement, dict) and isinstance(placement.get("name"), str):
            placement["name"] = normalize_name(placement["name"])


def canonical_metadata(labels: dict[str, str] | None, annotations: dict[str, str] | None) -> dict[str, Any]:
    """``{labels, annotations}``, each sorted, empty ones left out (``body()`` calls this for every row)."""
    out: dict[str, Any] = {}
    if labels and (kept := prune(dict(sorted(labels.items())))):
        out["labels"] = kept
    if annotations and (kept := prune(dict(sorted(annotations.items())))):
        out["annotations"] = kept
    return out


def canonical_json(value: Any) -> bytes:
    """A JSON-able value as JSON with sorted keys: what digests hash and comparisons compare."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def json_digest(data: bytes) -> str:
    """The digest of ``canonical_json`` output (so a caller that has the JSON serialises once)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    """A stable sha256 of a JSON-able value (key order irrelevant)."""
    return json_digest(canonical_json(value))


@dataclass
class Resource:
    """One resource, canonical: identity (kind, name), metadata and spec."""

    kind: str
    name: str
    spec: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    origin: Any = None  # the RawEntry it came from (bundle side), for locations
    # canonical_json(body()), made once: the diff compares it and the digest hashes it
    _body_json: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def kind_def(self) -> KindDef:
        return KIND_BY_NAME[self.kind]

    @property
    def address(self) -> str:
        return address(self.kind, self.name)

    @property
    def quoted(self) -> str:
        return quote_address(self.kind, self.name)

    @property
    def protected(self) -> bool:
        return str(self.annotations.get(PROTECT_ANNOTATION, "")).lower() == "true"

    def body(self) -> dict[str, Any]:
        """What the diff compares: ``{metadata: {labels, annotations}, spec}``."""
        return {"metadata": canonical_metadata(self.labels, self.annotations), "spec": self.spec}

    def body_json(self) -> bytes:
        """``canonical_json(self.body())``, computed once (the spec is not changed after loading)."""
        if self._body_json is None:
            self._body_json = canonical_json(self.body())
        return self._body_json

    def digest(self) -> str:
        return json_digest(self.body_json())

    def document(self) -> dict[str, Any]:
        """The bundle form of this resource, keys in the conventional order."""
        metadata: dict[str, Any] = {"name": self.name}
        metadata.update(canonical_metadata(self.labels, self.annotations))
        return {"apiVersion": API_VERSION, "kind": self.kind, "metadata": metadata, "spec": self.spec}


@dataclass
class Bundle:
    manifest: dict[str, Any]
    resources: list[Resource]
    source: str = "<bundle>"

    def by_address(self) -> dict[str, Resource]:
        return {r.address: r for r in self.resources}
