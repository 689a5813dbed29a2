"""Field-level differences between two canonical bodies (plan diffs and drift).

Both sides are canonical (``bundle.model.canonical_spec``), so equality is
plain ``==`` and a difference is reported as the deepest path that differs:
``spec.budget.dailyCapCents``; lists of the same length are compared element
by element (``spec.nodes[1].config.rules[0]``), otherwise as a whole list.
"""

from __future__ import annotations

from typing import Any

import orjson

from decisionform.bundle.model import PathT, format_path


def same(a: Any, b: Any) -> bool:
    """Equality that keeps true apart from 1 (Python's ``==`` does not)."""
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)


def changed_paths(before: Any, after: Any, prefix: PathT = ()) -> list[str]:
    if same(before, after):
        return []
    if isinstance(before, dict | None) and isinstance(after, dict | None):
        # An absent mapping reads as an empty one: a label added where there
        # were none is ``metadata.labels.team``, not all of ``metadata.labels``.
        before, after = before or {}, after or {}
        out: list[str] = []
        for key in list(before) + [k for k in after if k not in before]:
            out += changed_paths(before.get(key), after.get(key), (*prefix, key))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out += changed_paths(b, a, (*prefix, i))
        return out
    return [format_path(prefix)]
