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


NONFINITE_SPELLINGS = [".iNf", "-.InF", "+.inF", ".nAn", ".NaN", "1e999", "-1E+999", "1.5e0400", "1" + "0" * 400 + ".0"]


@pytest.mark.parametrize("spelling", NONFINITE_SPELLINGS)
def test_every_spelling_of_a_non_finite_number_is_refused(spelling: str) -> None:
    # a null elsewhere in the document makes the JSON form hold "null" (as orjson writes NaN)
    text = (f"resources:\n- kind: Category\n  metadata: {{name: C}}\n  spec: {{description: null}}\n"
            f"- kind: Offer\n  metadata: {{name: O}}\n  spec: {{category: C, metadata: {{a: {spelling}}}}}\n")
    with pytest.raises(SchemaError) as caught:
        load_bundle_text(text, filename="x.yaml")
    assert [(i.path, i.location.line, i.message) for i in caught.value.issues] == [  # type: ignore[union-attr]
        ("spec.metadata.a", 7, "must be a finite number (NaN and infinity cannot be stored)")]


@pytest.mark.parametrize("spelling", ["1e308", "1e-999", "-1.7e308", "9" * 300 + ".5"])
def test_large_but_finite_numbers_are_kept(spelling: str) -> None:
    text = (f"resources:\n- kind: Category\n  metadata: {{name: C}}\n  spec: {{description: null}}\n"
            f"- kind: Offer\n  metadata: {{name: O}}\n  spec: {{category: C, metadata: {{a: {spelling}}}}}\n")
    offer = load_bundle_text(text, filename="x.yaml").resources[1]
    assert offer.spec["metadata"]["a"] == float(spelling)


def test_an_overflowing_json_number_is_refused() -> None:
    text = ('{"resources": [{"kind": "Category", "metadata": {"name": "C"}, "spec": {"description": null}},'
            ' {"kind": "Offer", "metadata": {"name": "O"}, "spec": {"category": "C", "metadata": {"a": 1e999}}}]}')
    with pytest.raises(SchemaError) as caught:
        load_bundle_text(text, filename="x.json")
    assert [i.path for i in caught.value.issues] == ["spec.metadata.a"]
