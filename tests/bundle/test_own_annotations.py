"""The engine's own annotations are strict: a misspelt `decisionform/…` key or a value other
than true/false is a located error, since either would leave a resource unprotected from
--prune without a word. Other annotations stay free-form."""

from __future__ import annotations

import pytest

from decisionform.bundle.load import load_bundle_text
from decisionform.errors import SchemaError

TEXT = """resources:
- kind: Category
  metadata: {name: P1, annotations: {decisionform/prevent-destroy: "True"}}
- kind: Category
  metadata: {name: P2, annotations: {decisionform/prevent-destroy: "yes"}}
- kind: Category
  metadata: {name: P3, annotations: {decisionform/prevent-destroi: "true"}}
- kind: Category
  metadata: {name: P4, annotations: {team/owner: anything, decisionform/prevent-destroy: "false"}}
"""


def test_misspelt_keys_and_values_are_located_errors() -> None:
    with pytest.raises(SchemaError) as caught:
        load_bundle_text(TEXT, filename="pr.yaml")
    got = [(i.resource, i.path, i.message, i.location.line) for i in caught.value.issues]  # type: ignore[union-attr]
    assert got == [
        ('Category "P2"', "metadata.annotations.decisionform/prevent-destroy",
         "must be \"true\" or \"false\" (got 'yes')", 5),
        ('Category "P3"', "metadata.annotations.decisionform/prevent-destroi",
         "unknown annotation 'decisionform/prevent-destroi'; did you mean 'decisionform/prevent-destroy'?", 7),
    ]


def test_true_in_any_case_protects_and_other_annotations_are_free() -> None:
    text = TEXT.replace('"yes"', '"TRUE"').replace("prevent-destroi", "prevent-destroy")
    protected = {r.name: r.protected for r in load_bundle_text(text).resources}
    assert protected == {"P1": True, "P2": True, "P3": True, "P4": False}
