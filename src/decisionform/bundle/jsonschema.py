"""The JSON Schema of a bundle, generated from the kinds registry (for editors)."""

from __future__ import annotations

from typing import Any

from decisionform.bundle.kinds import ALIASES, KINDS
from decisionform.bundle.model import API_VERSION

METADATA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def bundle_json_schema() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    variants = []
    for kind in KINDS:
        spec = kind.spec_model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(spec.pop("$defs", {}))
        defs[f"{kind.name}Spec"] = spec
        names = [kind.name] + [alias for alias, target in ALIASES.items() if target == kind.name]
        variants.append({
            "type": "object",
            "additionalProperties": False,
            "required": ["kind", "metadata"],
            "properties": {
                "apiVersion": {"const": API_VERSION},
                "kind": {"enum": names},
                "metadata": METADATA,
                "spec": {"$ref": f"#/$defs/{kind.name}Spec"},
            },
        })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "decisionform bundle",
        "type": "object",
        "additionalProperties": False,
        "required": ["resources"],
        "properties": {
            "manifest": {
                "type": "object",
                "properties": {"apiVersion": {"const": API_VERSION}, "tenant": {"type": "string"},
                               "generator": {"type": "string"}},
            },
            "resources": {"type": "array", "items": {"oneOf": variants}},
        },
        "$defs": defs,
    }
