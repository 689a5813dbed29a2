"""Render plan and drift documents: terminal text, pull-request markdown, JSON.

The engine builds the documents (plain dicts, already redacted: secrets are
the strings ``(sensitive)`` / ``(sensitive, changed)``); this module only
formats them. Layout lives in the jinja2 templates next to this file
(``plan.txt.j2``, ``plan.md.j2``, ``drift.txt.j2``, ``drift.md.j2`` and the
shared ``_details.md.j2``); this module prepares the view (field rows, counts,
escaping) and keeps markdown under GitHub's comment limit.

Field rows: every path in ``changedFields`` is resolved in ``before`` and
``after`` (``value_at``) and compared structurally; nested mappings are
walked down to their leaves and lists are aligned element by element, so a
row is ``~`` (changed), ``+`` (added), ``-`` (removed) or ``#`` (a fold of N
unchanged list elements). A changed element is addressed by its index in
``after``, a removed one by its index in ``before``.

Markdown budget: the comment is at most ``_MD_BUDGET`` UTF-8 bytes (so also
at most ``MARKDOWN_LIMIT`` characters). The marker, header and summary table
are always kept; then every delete by name; then per-resource details in
execution order. Whatever does not fit is counted in an honest "… N more"
line pointing at the plan JSON artifact.
"""

from __future__ import annotations

import difflib
import functools
import html
import json
import re
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import quote, urlsplit

import jinja2
import orjson

__all__ = ["DRIFT_SCHEMA", "MARKDOWN_LIMIT", "MISSING", "PLAN_SCHEMA", "field_changes", "render_drift",
           "render_plan", "value_at"]

MARKDOWN_LIMIT = 65536
_MD_BUDGET = MARKDOWN_LIMIT - 1536  # bytes of UTF-8; leaves room for a CI footer
_MD_VALUE_MAX = 120  # characters of one value shown in a markdown cell
_MD_NAME_MAX = 300  # characters of a name shown in markdown
_MD_ROWS_MAX = 50  # field rows per resource in markdown
_LIST_ALIGN_MAX = 4000  # longer lists are compared index by index
_DEPTH_MAX = 64
_SENSITIVE = frozenset({"(sensitive)", "(sensitive, changed)"})
_DIR = Path(__file__).resolve().parent

Format = Literal["text", "markdown", "json"]


class _Missing:
    """The value of a path that a body does not have."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def _load_schema(name: str) -> dict:
    return json.loads((_DIR / name).read_text(encoding="utf-8"))


PLAN_SCHEMA: dict = _load_schema("plan.v1.schema.json")
DRIFT_SCHEMA: dict = _load_schema("drift.v1.schema.json")

# --------------------------------------------------------------------------- paths

_TOKEN = re.compile(r'\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([^.\[]*)')
_SIMPLE_KEY = re.compile(r"[\w$@/:+-]+")


def _tokens(path: str) -> list[tuple[str, Any]]:
    """``spec.nodes[1]["a.b"].x`` -> [(k, spec), (k, nodes), (i, 1), (q, a.b), (k, x)]."""
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if m is None or m.end() == pos:  # a stray "[": the rest is one key
            out.append(("q", path[pos:]))
            break
        index, quoted, key = m.groups()
        if index is not None:
            out.append(("i", int(index)))
        elif quoted is not None:
            try:
                out.append(("q", json.loads(quoted)))
            except ValueError:
                out.append(("q", quoted[1:-1]))
        else:
            out.append(("k", key))
        pos = m.end()
    return out


def _resolve(obj: Any, toks: list[tuple[str, Any]], i: int) -> Any:
    if i == len(toks):
        return obj
    kind, val = toks[i]
    if kind == "i":
        if isinstance(obj, list) and val < len(obj):
            return _resolve(obj[val], toks, i + 1)
        return MISSING
    if not isinstance(obj, dict):
        return MISSING
    if val in obj:
        found = _resolve(obj[val], toks, i + 1)
        if found is not MISSING:
            return found
    if kind == "k":  # a key may itself contain dots: try "a.b", "a.b.c", ...
        key, j = val, i + 1
        while j < len(toks) and toks[j][0] == "k":
            key, j = f"{key}.{toks[j][1]}", j + 1
            if key in obj:
                found = _resolve(obj[key], toks, j)
                if found is not MISSING:
                    return found
    return MISSING


def value_at(body: dict | None, path: str) -> Any:
    """The value at ``path`` (``spec.nodes[1].config.rules[0]``) in a body, or ``MISSING``."""
    if body is None:
        return MISSING
    return _resolve(body, _tokens(path), 0) if path else body


@functools.lru_cache(maxsize=4096)  # why: the same few keys recur in every resource
def _simple_key(key: str) -> bool:
    return _SIMPLE_KEY.fullmatch(key) is not None


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _simple_key(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


# --------------------------------------------------------------------------- field rows


class _Row(NamedTuple):
    sym: str  # "~" changed, "+" added, "-" removed, "#" folded unchanged, "?" values unknown
    path: str
    before: Any
    after: Any
    folded: int = 0


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def _sym(before: Any, after: Any) -> str:
    return "+" if before is MISSING else "-" if after is MISSING else "~"


def _walk(path: str, b: Any, a: Any, out: list[_Row], depth: int = 0) -> None:
    if _same(b, a):
        return
    if isinstance(b, dict) and isinstance(a, dict) and depth < _DEPTH_MAX:
        for k in b:
            _walk(_join(path, k), b[k], a.get(k, MISSING), out, depth + 1)
        for k in a:
            if k not in b:
                _walk(_join(path, k), MISSING, a[k], out, depth + 1)
    elif isinstance(b, list) and isinstance(a, list) and depth < _DEPTH_MAX:
        _walk_list(path, b, a, out, depth)
    else:
        out.append(_Row(_sym(b, a), path, b, a))


def _key(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _walk_list(path: str, b: list, a: list, out: list[_Row], depth: int) -> None:
    if len(b) + len(a) > _LIST_ALIGN_MAX:
        ops: Iterable = [("replace", 0, len(b), 0, len(a))]
    else:
        matcher = difflib.SequenceMatcher(None, [_key(x) for x in b], [_key(x) for x in a], autojunk=False)
        ops = matcher.get_opcodes()
    same = 0
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            same += i2 - i1
            continue
        paired = min(i2 - i1, j2 - j1)
        for k in range(paired):
            mark = len(out)
            _walk(_join(path, j1 + k), b[i1 + k], a[j1 + k], out, depth + 1)
            same += len(out) == mark
        out.extend(_Row("-", _join(path, i), b[i], MISSING) for i in range(i1 + paired, i2))
        out.extend(_Row("+", _join(path, j), MISSING, a[j]) for j in range(j1 + paired, j2))
    if same:
        out.append(_Row("#", path, MISSING, MISSING, same))


_LEAF_TYPES = frozenset({str, int, float, bool, type(None)})


def _flat(path: str, value: Any, sym: str, out: list[_Row], depth: int = 0) -> None:
    """Compact leaves of a created (or deleted) body: mappings flattened, lists inline
    (a list holding mappings gets one row per element)."""
    if isinstance(value, list) and any(isinstance(v, dict) for v in value) and depth < _DEPTH_MAX:
        for i, v in enumerate(value):
            out.append(_Row(sym, _join(path, i), MISSING if sym == "+" else v, v if sym == "+" else MISSING))
    elif isinstance(value, dict) and depth < _DEPTH_MAX:
        for k, v in value.items():
            if (depth == 0 and k in ("kind", "apiVersion")) or (path == "metadata" and k == "name"):
                continue
            if type(v) in _LEAF_TYPES:  # a leaf row right here, not one call deeper (most values)
                out.append(_Row(sym, _join(path, k), MISSING if sym == "+" else v, v if sym == "+" else MISSING))
            elif not (isinstance(v, dict) and not v):
                _flat(_join(path, k), v, sym, out, depth + 1)
    elif path:
        out.append(_Row(sym, path, MISSING if sym == "+" else value, value if sym == "+" else MISSING))


def _rows(entry: dict) -> list[_Row]:
    op = entry.get("op") or entry.get("status")
    before, after = entry.get("before"), entry.get("after")
    out: list[_Row] = []
    if op == "create":
        _flat("", after, "+", out)
        return out
    if op == "delete":
        _flat("", before, "-", out)
        return out
    if op not in ("update", "changed"):
        return out
    paths = list(dict.fromkeys(entry.get("changedFields") or ()))
    if before is None and after is None:
        return [_Row("?", p, MISSING, MISSING) for p in paths]
    if not paths:
        _walk("", before or {}, after or {}, out)
        return out
    for path in paths:
        b, a = value_at(before, path), value_at(after, path)
        mark = len(out)
        _walk(path, b, a, out)
        if len(out) == mark:  # never hide a path the engine says changed
            out.append(_Row("?" if b is MISSING and a is MISSING else "~", path, b, a))
    seen: set[tuple[str, str]] = set()
    return [r for r in out if (r.sym, r.path) not in seen and not seen.add((r.sym, r.path))]


def field_changes(diff: dict) -> list[tuple[str, Any, Any]]:
    """(path, before, after) per changed path; lists diffed element by element.

    Creates give every compact field of ``after`` (before ``MISSING``), deletes
    every field of ``before``; ``unchanged`` entries give nothing.
    """
    return [(r.path, r.before, r.after) for r in _rows(diff) if r.sym != "#"]


# --------------------------------------------------------------------------- escaping

_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _unhide(text: str) -> str:
    """Control, bidi and zero-width characters made visible as ``\\uXXXX``."""
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _plain(value: Any) -> str:
    return _unhide("" if value is None else str(value))


_VALUE_JSON = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))  # json.dumps makes one per call
_json_string = json.encoder.encode_basestring  # type: ignore[attr-defined]
_INF = float("inf")


@functools.lru_cache(maxsize=8192)  # why: field paths recur in every resource of a kind
def _plain_path(path: str) -> str:
    return _plain(path)


def _fmt(value: Any) -> str:
    """One value as compact JSON (strings quoted), safe for a terminal."""
    if value is MISSING:
        return "(absent)"
    kind = type(value)
    if kind is str:  # what JSONEncoder.encode does for a str, without its checks
        return value if value in _SENSITIVE else _unhide(_json_string(value))
    if kind is bool or value is None:  # scalars as the encoder writes them, without making an encoder
        return "true" if value is True else "false" if value is False else "null"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return "NaN" if value != value else "Infinity" if value == _INF else "-Infinity" if value == -_INF \
            else float.__repr__(value)
    if isinstance(value, str) and value in _SENSITIVE:
        return value
    try:
        text = _VALUE_JSON.encode(value)
    except (TypeError, ValueError):
        text = repr(value)
    return _unhide(text)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _row_text(r: _Row, paint: Callable[[str, str], str]) -> str:
    """One field row in terminal text (plan.txt.j2 and drift.txt.j2 print these lines).

    Python, not a macro: a plan of 10,000 creates has some 150,000 rows, and a
    jinja2 macro call per row took most of the rendering time.
    """
    sym, path = r.sym, _plain_path(r.path)
    if sym == "#":
        return paint(f"# ({_plural(r.folded, 'unchanged element')} in {path})", "#")
    if sym == "?":
        return f"{paint('~', '~')} {path}"
    if sym == "+":
        return f"{paint('+', '+')} {path}: {_fmt(r.after)}"
    if sym == "-":
        return f"{paint('-', '-')} {path}: {_fmt(r.before)}"
    return f"{paint('~', '~')} {path}: {_fmt(r.before)} → {_fmt(r.after)}"


def _address(entry: dict) -> str:
    return f"{_plain(entry.get('kind'))} {_fmt(str(entry.get('name', '')))}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code(text: str) -> str:
    """A markdown code span around text, whatever backticks it holds."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ")):
        text = f" {text} "
    return f"{fence}{text or ' '}{fence}"


def _cell(text: str) -> str:
    """Escape pipes for a table cell (a backslash run before a pipe is made even first)."""
    return re.sub(r"(\\*)\|", lambda m: m.group(1) + "\\" * (len(m.group(1)) % 2) + "\\|", text)


_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def _md_text(value: Any) -> str:
    """Plain user text in markdown: every ASCII punctuation backslash-escaped."""
    return _MD_PUNCT.sub(r"\\\1", _plain(value))


def _md_val(value: Any, sym: str = "~") -> str:
    if value is MISSING:
        return "*(not shown)*" if sym == "?" else "*(absent)*"
    return _cell(_code(_shorten(_fmt(value), _MD_VALUE_MAX)))


def _md_address(entry: dict) -> str:
    return _shorten(_address(entry), _MD_NAME_MAX)


def _safe_database(url: Any) -> str:
    """The database identity: user, password and query parameters dropped."""
    text = _plain(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if "@" not in parts.netloc and not parts.query:
        return text
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


# --------------------------------------------------------------------------- environments

_COLORS = {"+": "32", "~": "33", "-": "31", "?": "36", "#": "2", "bold": "1"}


@cache
def _env() -> jinja2.Environment:
    """One environment, autoescape off: text needs none, markdown escapes explicitly by filter."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_DIR)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        val=_fmt,
        plain=_plain,
        code=lambda v: _code(_shorten(_plain(v), _MD_NAME_MAX)),
        cell=lambda v: _cell(_code(_shorten(_plain(v), _MD_NAME_MAX))),
        md=lambda v: _md_text(_shorten(_plain(v), _MD_NAME_MAX)),
        mdval=_md_val,
        h=lambda v: html.escape(str(v), quote=False),
        plural=_plural,
    )
    return env


def _painter(color: bool) -> Callable[[str, str], str]:
    def paint(text: str, sym: str) -> str:
        code = _COLORS.get(sym)
        return f"\x1b[{code}m{text}\x1b[0m" if color and code and text else text

    return paint


def _render(name: str, **ctx: Any) -> str:
    return _env().get_template(name).render(**ctx)


# --------------------------------------------------------------------------- views

_PLAN_OPS = ("create", "update", "delete", "unchanged")
_PLAN_KEYS = ("created", "updated", "deleted", "unchanged")
_DRIFT_KEYS = ("changed", "deleted", "unmanaged")
_PLAN_SYM = {"create": "+", "update": "~", "delete": "-"}
_DRIFT_SYM = {"changed": "~", "deleted": "-", "unmanaged": "?"}


def _summary(doc: dict, keys: tuple[str, ...], counted: dict[str, int]) -> dict[str, int]:
    given = doc.get("summary") or {}
    return {k: given[k] if isinstance(given.get(k), int) else counted.get(k, 0) for k in keys}


def _table(entries: list[dict], field: str, cols: tuple[str, ...], totals: list[int]) -> list[dict]:
    """Counts by kind (kinds in order of first appearance); '–' where the kinds cannot add up."""
    by_kind: dict[str, list[int]] = {}
    for e in entries:
        col = e.get(field)
        if col in cols:
            by_kind.setdefault(_plain(e.get("kind")), [0] * len(cols))[cols.index(col)] += 1
    sums = [sum(c[i] for c in by_kind.values()) for i in range(len(cols))]
    rows = []
    for kind, counts in by_kind.items():
        cells = [str(n) if sums[i] == totals[i] else "–" for i, n in enumerate(counts)]
        rows.append({"kind": kind, "cells": cells})
    return rows


def _options(doc: dict) -> list[str]:
    opts = doc.get("options") or {}
    out = []
    if opts.get("prune"):
        out.append("prune")
    if opts.get("allowEmpty"):
        out.append("allow empty")
    for key in ("kinds", "targets"):
        if opts.get(key):
            out.append(_shorten(f"{key}: " + ", ".join(_plain(v) for v in opts[key]), _MD_NAME_MAX))
    return out


class _TextResource(NamedTuple):
    """One resource of a terminal text view. Attributes, not a dict: jinja2 reads ``r.rows``
    with getattr first, and an apply prints 10,000 of these."""

    sym: str
    address: str
    op: Any
    rows: list[str]


def _resource(entry: dict, sym: str, paint: Callable[[str, str], str], rows: bool = True) -> _TextResource:
    """One resource of a terminal text view; its field rows already as text (``_row_text``)."""
    op = entry.get("op") or entry.get("status")
    return _TextResource(sym, _address(entry), op, [_row_text(r, paint) for r in _rows(entry)] if rows else [])


STATE_SHOWN = 20  # adopted / forgotten resources named one by one in text and markdown


def _state_view(doc: dict) -> dict:
    """The plan's state-only changes (format 1.1 ``state``), named: adopted resources become
    managed (a later --prune may delete them), so a reviewer must see which."""
    state = doc.get("state") if isinstance(doc.get("state"), dict) else {}
    out: dict[str, Any] = {}
    for key in ("adopt", "forget"):
        addresses = [a for a in state.get(key) or () if isinstance(a, str)]
        entries = [dict(zip(("kind", "name"), a.split(".", 1), strict=False)) for a in addresses]
        out[key] = [_address(e) for e in entries[:STATE_SHOWN]]
        out[f"{key}_hidden"] = max(0, len(entries) - STATE_SHOWN)
    return out


def _plan_view(doc: dict) -> dict:
    diffs = [d for d in doc.get("diffs") or () if isinstance(d, dict)]
    counted = {k: sum(d.get("op") == op for d in diffs) for k, op in zip(_PLAN_KEYS, _PLAN_OPS, strict=True)}
    s = _summary(doc, _PLAN_KEYS, counted)
    changes = [d for d in diffs if d.get("op") in _PLAN_SYM]
    return {
        "tenant": doc.get("tenant") or "",
        "plan_id": doc.get("planId") or "",
        "database": _safe_database(doc.get("database")),
        "created_at": doc.get("createdAt") or "",
        "options": _options(doc),
        "s": s,
        "table": _table(diffs, "op", _PLAN_OPS, [s[k] for k in _PLAN_KEYS]),
        "changes": changes,
        "deletes": [d for d in changes if d.get("op") == "delete"],
        **_state_view(doc),
    }


def _drift_view(doc: dict) -> dict:
    drift = [d for d in doc.get("drift") or () if isinstance(d, dict) and d.get("status") in _DRIFT_SYM]
    counted = {k: sum(d.get("status") == k for d in drift) for k in _DRIFT_KEYS}
    s = _summary(doc, _DRIFT_KEYS, counted)
    return {
        "tenant": doc.get("tenant") or "",
        "database": _safe_database(doc.get("database")),
        "created_at": doc.get("createdAt") or "",
        "s": s,
        "table": _table(drift, "status", _DRIFT_KEYS, [s[k] for k in _DRIFT_KEYS]),
        "drift": drift,
    }


# --------------------------------------------------------------------------- markdown budget


def _detail(entry: dict, sym: str, drift: bool) -> str:
    rows = _rows(entry)
    fields = [r for r in rows if r.sym != "#"]
    listed = len(dict.fromkeys(entry.get("changedFields") or ()))
    count = len(fields) if entry.get("op") == "create" or not listed else listed
    view = {
        "sym": sym,
        "address": _md_address(entry),
        "create": entry.get("op") == "create",
        "count": count,
        "rows": rows[:_MD_ROWS_MAX],
        "more": max(0, len(rows) - _MD_ROWS_MAX),
        "cols": ("state", "live") if drift else ("before", "after"),
        "artifact": "drift" if drift else "plan",
    }
    macros = _env().get_template("_details.md.j2").module
    return str(macros.block(view))  # type: ignore[attr-defined]


def _fit(template: str, ctx: dict, groups: list[tuple[str, list[str]]], details: list[Callable[[], str]]) -> str:
    """Render ``template`` keeping name groups (in priority order), then details, within budget.

    ``ctx[key]`` receives the shown names of each group, ``ctx[key + '_hidden']``
    the count left out; ``ctx['details']`` / ``ctx['details_hidden']`` likewise.
    """

    def render(shown: dict[str, int], n_details: int, blocks: list[str]) -> str:
        for key, names in groups:
            ctx[key], ctx[key + "_hidden"] = names[: shown[key]], len(names) - shown[key]
        ctx["details"], ctx["details_hidden"] = blocks[:n_details], len(details) - n_details
        return _render(template, **ctx)

    shown = {key: 0 for key, _ in groups}
    room = _MD_BUDGET - len(render(shown, 0, []).encode())
    complete = True
    for key, names in groups:
        for name in names:
            cost = len(name.encode()) + 6  # "> - " + name + "\n", one spare
            if cost > room:
                complete = False
                break
            room -= cost
            shown[key] += 1
        if not complete:
            break
    blocks: list[str] = []
    if complete:
        for make in details:
            block = make()
            cost = len(block.encode()) + 3  # blank line + block + newline, one spare
            if cost > room:
                break
            room -= cost
            blocks.append(block)
    text = render(shown, len(blocks), blocks)
    while len(text.encode()) > _MD_BUDGET and (blocks or any(shown.values())):
        if blocks:  # a template/estimate mismatch: drop from the end until it fits
            blocks.pop()
        else:
            key = next(k for k, _ in reversed(groups) if shown[k])
            shown[key] = max(0, shown[key] - max(1, shown[key] // 10))
        text = render(shown, len(blocks), blocks)
    return text


def _marker_tenant(tenant: Any) -> str:
    return quote(_shorten(_plain(tenant), _MD_NAME_MAX), safe="")


def _plan_markdown(doc: dict) -> str:
    view = _plan_view(doc)
    view["marker"] = _marker_tenant(view["tenant"])
    deletes = [_code(_md_address(d)) for d in view["deletes"]]
    details = [
        (lambda d=d: _detail(d, _PLAN_SYM[d["op"]], drift=False)) for d in view["changes"] if d["op"] != "delete"
    ]
    return _fit("plan.md.j2", view, [("deletes_shown", deletes)], details)


def _drift_markdown(doc: dict) -> str:
    view = _drift_view(doc)
    view["marker"] = _marker_tenant(view["tenant"])
    groups = [
        (key, [_code(_md_address(d)) for d in view["drift"] if d["status"] == status])
        for key, status in (("deleted_shown", "deleted"), ("unmanaged_shown", "unmanaged"))
    ]
    details = [(lambda d=d: _detail(d, "~", drift=True)) for d in view["drift"] if d["status"] == "changed"]
    return _fit("drift.md.j2", view, groups, details)


# --------------------------------------------------------------------------- public API


def _json(doc: dict) -> str:
    if "database" in doc and isinstance(doc["database"], str):
        safe = _safe_database(doc["database"])
        if safe != doc["database"]:
            doc = {**doc, "database": safe}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "markdown", "json"):
        raise ValueError(f"unknown format {fmt!r}; expected text, markdown or json")


def render_plan(doc: dict, fmt: Format, *, color: bool = False, created_fields: bool = True) -> str:
    """A plan document as terminal text, pull-request markdown or JSON.

    ``created_fields=False`` (text): a create is one line, its address; what ``apply``
    prints, since every field of 10,000 created resources was in the plan already and
    would bury the updates and deletes in the job's log.
    """
    _check_format(fmt)
    if fmt == "json":
        return _json(doc)
    if fmt == "markdown":
        return _plan_markdown(doc)
    view = _plan_view(doc)
    paint = _painter(color)
    view["changes"] = [_resource(d, _PLAN_SYM[d["op"]], paint,
                                 d["op"] == "update" or (created_fields and d["op"] == "create"))
                       for d in view["changes"]]
    view["deletes"] = [_address(d) for d in view["deletes"]]
    return _render("plan.txt.j2", paint=paint, **view)


def render_drift(doc: dict, fmt: Format, *, color: bool = False) -> str:
    """A drift report as terminal text, pull-request markdown or JSON."""
    _check_format(fmt)
    if fmt == "json":
        return _json(doc)
    if fmt == "markdown":
        return _drift_markdown(doc)
    view = _drift_view(doc)
    paint = _painter(color)
    view["drift"] = [_resource(d, _DRIFT_SYM[d["status"]], paint, d["status"] == "changed") for d in view["drift"]]
    return _render("drift.txt.j2", paint=paint, **view)
