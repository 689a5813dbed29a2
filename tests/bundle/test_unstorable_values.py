"""Values no database stores (NaN, infinity, integers past 64 bits, NUL) are all reported in
one run, each once: where the schema already named a field, no second error for it."""

from __future__ import annotations

import pytest

from decisionform.bundle.load import load_bundle_text
from decisionform.errors import SchemaError

TEXT = """resources:
- kind: Offer
  metadata: {name: O}
  spec: {category: C, businessValue: .inf, metadata: {a: .nan, b: [1, .inf]}}
- kind: Category
  metadata: {name: C, labels: {x: "a\\0b"}}
  spec: {ordinal: 99999999999999999999999, description: "x\\0y"}
"""


def test_every_unstorable_value_once_with_its_line() -> None:
    with pytest.raises(SchemaError) as caught:
        load_bundle_text(TEXT, filename="multi.yaml")
    got = [(i.resource, i.path, i.location.line) for i in caught.value.issues]  # type: ignore[union-attr]
    assert got == [
        ('Offer "O"', "spec.businessValue", 4),  # the schema's own error, not a second one
        ('Offer "O"', "spec.metadata.a", 4),
        ('Offer "O"', "spec.metadata.b[1]", 4),
        ('Category "C"', "spec.ordinal", 7),  # "must be <= 2147483647", not also "past 64 bits"
        ('Category "C"', "metadata.labels.x", 6),
        ('Category "C"', "spec.description", 7),
    ]
    messages = [i.message for i in caught.value.issues]
    assert messages[1] == messages[2] == "must be a finite number (NaN and infinity cannot be stored)"
    assert messages[4] == messages[5] == "must not contain a NUL character or a lone surrogate"
