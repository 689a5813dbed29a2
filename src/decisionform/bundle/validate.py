"""From raw documents to canonical resources, collecting every located error.

Schema errors are gathered across the whole bundle before raising, so a user
sees all of them in one run, each as ``file:line:col: Offer "X".spec.f: why``.
"""

from __future__ import annotations

import itertools
import math
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from decisionform.bundle.kinds import KIND_BY_NAME, KindDef, RefPath, kind_names, resolve_kind
from decisionform.bundle.model import (
    API_VERSION,
    PROTECT_ANNOTATION,
    Bundle,
    PathT,
    Resource,
    apply_sub_models,
    format_path,
    normalize_name,
    normalize_references,
    prune,
    sub_containers,
)
from decisionform.bundle.source import RawBundle, RawEntry, format_doc_path
from decisionform.bundle.suggest import did_you_mean
from decisionform.errors import Issue, ParseError, SchemaError, quote_address

RESOURCE_KEYS = ("apiVersion", "kind", "metadata", "spec")
METADATA_KEYS = ("name", "labels", "annotations")
MAX_NAME = 255
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (U+0085 is a line break)
# The same keys as sets: one C-level subset test tells that a mapping has no unknown key.
_RESOURCE_KEY_SET = frozenset(RESOURCE_KEYS)
_METADATA_KEY_SET = frozenset(METADATA_KEYS)


def build_bundle(raw: RawBundle) -> Bundle:
    """Validate every entry; raise ``SchemaError`` with all issues, or return the bundle."""
    issues: list[Issue] = []
    resources: list[Resource] = []
    add = resources.append
    for entry in raw.entries:
        resource = _build_resource(entry, issues)
        if resource is not None:
            add(resource)
    issues += _check_manifest(raw)
    issues += check_bundle_rules(resources)
    if issues:
        raise SchemaError(issues)
    return Bundle(manifest=dict(raw.manifest or {}), resources=resources, source=raw.source)


def name_resource(err: ParseError) -> ParseError:
    """``err`` with the resource it sits in named: ``Offer "Gold Card".spec``, not ``resources[1].spec``.

    The reader knows only document paths; it leaves the document and the path on
    the error (``doc``, ``doc_path``) so that the resource can be named here.
    """
    doc, path = getattr(err, "doc", None), tuple(getattr(err, "doc_path", None) or ())
    data = doc.data if doc is not None else None
    if len(err.issues) != 1 or not isinstance(data, dict):
        return err
    if path[:1] == ("resources",) and len(path) > 1 and isinstance(path[1], int):
        listed = data.get("resources")
        entry = listed[path[1]] if isinstance(listed, list) and 0 <= path[1] < len(listed) else None
        rest = path[2:]
    elif not {"manifest", "resources"} & set(data):  # a one-resource document (files layout)
        entry, rest = data, path
    else:
        return err
    metadata = entry.get("metadata") if isinstance(entry, dict) else None
    kind_text, name = entry.get("kind") if isinstance(entry, dict) else None, \
        metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(kind_text, str) or not isinstance(name, str):
        return err
    kind = resolve_kind(kind_text)
    issue = err.issues[0]
    named = ParseError([Issue(issue.message, issue.location,
                              resource=quote_address(kind.name if kind else kind_text, normalize_name(name)),
                              path=(format_doc_path(rest) or None) if issue.path else None,
                              extra_locations=issue.extra_locations)])
    named.doc, named.doc_path = doc, path  # type: ignore[attr-defined]
    return named


def _check_manifest(raw: RawBundle) -> list[Issue]:
    manifest = raw.manifest
    if manifest is None:
        return []

    def where() -> Any:  # only on error: a location costs a PyYAML pass over the whole text
        return raw.manifest_doc.locate(("manifest",)) if raw.manifest_doc else None

    if not isinstance(manifest, dict):
        return [Issue("must be a mapping", where(), path="manifest")]
    out = []
    version = manifest.get("apiVersion", API_VERSION)
    if version != API_VERSION:
        out.append(Issue(f"unsupported apiVersion {version!r}; this tool reads {API_VERSION}", where(),
                         path="manifest.apiVersion"))
    for key in manifest:
        if key not in ("apiVersion", "tenant", "generator", "description", "labels"):
            hint = _hint(key, ("apiVersion", "tenant", "generator"))
            out.append(Issue(f"unknown field {key!r}{hint}", where(), path=f"manifest.{key}"))
    return out


def _hint(word: str, options: typing.Iterable[str]) -> str:
    best = did_you_mean(word, options)
    return f"; did you mean {best!r}?" if best else ""


def _build_resource(entry: RawEntry, issues: list[Issue]) -> Resource | None:
    """One entry's resource, or None with its issues appended (every resource of a big bundle
    passes here: the checks that find nothing in a valid resource are one C-level test each)."""
    data = entry.data
    if not isinstance(data, dict):
        issues.append(Issue("a resource must be a mapping with apiVersion, kind, metadata and spec",
                            entry.locate(), path=format_path(entry.prefix)))
        return None
    kind_text = data.get("kind")
    kind = resolve_kind(kind_text) if isinstance(kind_text, str) else None
    first = len(issues)  # this resource's issues start here (a bad name is one of them)
    metadata = data.get("metadata")
    name = _resource_name(entry, metadata, issues)
    subject = quote_address(kind.name if kind else str(kind_text), name) if name else None
    start = len(issues)
    if kind is None:
        hint = _hint(str(kind_text), kind_names()) if isinstance(kind_text, str) else ""
        msg = "kind is missing" if kind_text is None else f"unknown kind {kind_text!r}{hint}"
        issues.append(Issue(msg, entry.locate(("kind",)), resource=subject, path="kind"))
    if not data.keys() <= _RESOURCE_KEY_SET:
        for key in data:
            if key not in RESOURCE_KEYS:
                issues.append(Issue(f"unknown field {key!r}{_hint(str(key), RESOURCE_KEYS)}",
                                    entry.locate_key((key,)), resource=subject, path=str(key)))
    version = data.get("apiVersion", API_VERSION)
    if version != API_VERSION:
        issues.append(Issue(f"unsupported apiVersion {version!r}; this tool reads {API_VERSION}",
                            entry.locate(("apiVersion",)), resource=subject, path="apiVersion"))
    labels = annotations = None
    if isinstance(metadata, dict):
        labels, annotations = metadata.get("labels"), metadata.get("annotations")
    labels = {} if labels is None else _string_map(entry, "labels", labels, subject, issues)
    annotations = ({} if annotations is None
                   else _string_map(entry, "annotations", annotations, subject, issues))
    if annotations:
        _check_own_annotations(entry, annotations, subject, issues)
    spec = _spec(entry, kind, subject, issues) if kind else None
    if not entry.doc.storable:  # the reader found every value of the document storable, or not
        _check_storable_text(entry, subject, issues, first)
    if len(issues) > start or kind is None or name is None or spec is None:
        return None
    return Resource(kind=kind.name, name=name, spec=spec, labels=labels, annotations=annotations, origin=entry)


OWN_ANNOTATIONS = (PROTECT_ANNOTATION,)


def _check_own_annotations(entry: RawEntry, annotations: dict[str, str], subject: str | None,
                           issues: list[Issue]) -> None:
    """The engine's own annotations are strict: a misspelt key or a "yes" would leave a
    resource unprotected without a word, and prune would then delete it."""
    for key, value in annotations.items():
        if not key.startswith("decisionform/"):
            continue
        at = ("metadata", "annotations", key)
        path = f"metadata.annotations.{key}"
        if key not in OWN_ANNOTATIONS:
            issues.append(Issue(f"unknown annotation {key!r}{_hint(key, OWN_ANNOTATIONS)}", entry.locate_key(at),
                                resource=subject, path=path))
        elif value.lower() not in ("true", "false"):
            issues.append(Issue(f'must be "true" or "false" (got {value!r})', entry.locate(at), resource=subject,
                                path=path))


def _check_storable_text(entry: RawEntry, subject: str | None, issues: list[Issue], start: int = 0) -> None:
    """Values no database can store as written, refused with their location instead of failing
    (or vanishing) later: NUL or a lone surrogate (an escape can write either: PostgreSQL refuses
    NUL, no UTF-8 output holds a lone surrogate), an integer past 64 bits (no JSON column reads
    it back) and NaN or infinity (JSON has neither: the value would silently become null).
    Every such value is reported, except where ``issues[start:]`` already names the field."""
    try:
        data = orjson.dumps(entry.data, option=orjson.OPT_NON_STR_KEYS)
        if b"\\u0000" not in data and not entry.doc.may_hold_nonfinite():
            return  # the fast path: one C call per resource
    except TypeError:
        pass  # a lone surrogate, an integer past 64 bits (or an odd key): find them below
    named = {issue.path for issue in issues[start:]}
    for path, problem in itertools.islice(_unstorable(entry.data, ()), MAX_UNSTORABLE):
        where = format_doc_path(list(path))
        if where not in named:  # e.g. the schema already said "must be <= 2147483647" there
            issues.append(Issue(problem, entry.locate(path), resource=subject, path=where))


MAX_UNSTORABLE = 20  # per resource: enough to fix them in one pass, not a wall of text
_TEXT_PROBLEM = "must not contain a NUL character or a lone surrogate"


def _unstorable(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, why) of every value, or key, that cannot be stored."""
    kind = type(value)
    if kind is str:
        if "\x00" in value or (not value.isascii() and _has_surrogate(value)):
            yield path, _TEXT_PROBLEM
    elif kind is int:
        if not -(2**63) <= value < 2**64:
            yield path, "is an integer past 64 bits; no database column holds it"
    elif kind is float:
        if not math.isfinite(value):
            yield path, "must be a finite number (NaN and infinity cannot be stored)"
    elif kind is dict or kind is list:
        for key, item in (value.items() if kind is dict else enumerate(value)):
            if isinstance(key, str) and next(_unstorable(key, ()), None) is not None:
                yield (*path, key), _TEXT_PROBLEM
            yield from _unstorable(item, (*path, key))


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _resource_name(entry: RawEntry, metadata: Any, issues: list[Issue]) -> str | None:
    if not isinstance(metadata, dict):
        issues.append(Issue("metadata with a name is required", entry.locate(("metadata",)), path="metadata"))
        return None
    if not metadata.keys() <= _METADATA_KEY_SET:
        for key in metadata:
            if key not in METADATA_KEYS:
                issues.append(Issue(f"unknown field {key!r}{_hint(str(key), METADATA_KEYS)}",
                                    entry.locate_key(("metadata", key)), path=f"metadata.{key}"))
    name = metadata.get("name")
    if not isinstance(name, str):
        msg = "is required" if name is None else f"must be a string (got {type(name).__name__})"
        issues.append(Issue(msg, entry.locate(("metadata", "name")), path="metadata.name"))
        return None
    if not (type(name) is str and name.isascii()):  # _nfc, inline: once per resource
        name = normalize_name(name)
    problem = _normal_name_problem(name)
    if problem:  # located only on error: a location costs a PyYAML pass over the whole text
        issues.append(Issue(problem, entry.locate(("metadata", "name")), path="metadata.name"))
        return None
    return name


def _nfc(text: str) -> str:
    """``normalize_name``; ASCII text (O(1) to tell) is already in NFC."""
    return text if type(text) is str and text.isascii() else normalize_name(text)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a resource name, or None (any text of 1-255 characters)."""
    return _normal_name_problem(_nfc(name))


def _normal_name_problem(name: str) -> str | None:
    """``name_problem`` of a name already in NFC."""
    if not name.strip():
        return "must not be empty"
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters; names are at most {MAX_NAME}"
    # ASCII: printable is exactly "no C0 control and no DEL" (the regex, without the regex)
    if (not name.isprintable()) if name.isascii() else _CONTROL_RE.search(name):
        return "must not contain control characters (NUL, newline, tab ...)"
    return None


def _string_map(entry: RawEntry, field: str, value: Any, subject: str | None,
                issues: list[Issue]) -> dict[str, str]:
    """``metadata.<field>`` (``value``, not None) as a sorted mapping of strings."""
    path = ("metadata", field)
    if not isinstance(value, dict):
        issues.append(Issue("must be a mapping of strings", entry.locate(path), resource=subject,
                            path=format_path(path)))
        return {}
    out = {}
    for key, val in value.items():
        if not isinstance(val, str):
            issues.append(Issue(f"must be a string (got {_type_word(val)}); quote it", entry.locate((*path, key)),
                                resource=subject, path=format_path((*path, key))))
        else:
            out[str(key)] = val
    return dict(sorted(out.items()))


def _spec(entry: RawEntry, kind: KindDef, subject: str | None, issues: list[Issue]) -> dict[str, Any] | None:
    spec = entry.data.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        issues.append(Issue("must be a mapping", entry.locate(("spec",)), resource=subject, path="spec"))
        return None
    model = kind.spec_model
    try:  # model_validate(spec).model_dump(mode="json", by_alias=True), without the two Python wrappers
        valid = model.__pydantic_validator__.validate_python(spec)
        dumped = model.__pydantic_serializer__.to_python(valid, mode="json", by_alias=True)
    except ValidationError as exc:
        issues += pydantic_issues(exc, model, entry, ("spec",), subject)
        _sub_model_issues(kind, spec, entry, subject, issues)  # why: every error in one run
        return None
    if kind.sub_models:
        try:
            apply_sub_models(kind, dumped)  # validates and normalises the selector-chosen parts in one pass
        except ValidationError:
            start = len(issues)
            _sub_model_issues(kind, dumped, entry, subject, issues)  # why: every part's errors, located
            if len(issues) == start:
                raise
            return None
    if not entry.doc.ascii:  # NFC leaves ASCII text as it is
        _normalize_references(kind, dumped)
    return prune(dumped)


def _normalize_references(kind: KindDef, spec: dict[str, Any]) -> None:
    """``normalize_references(kind, spec)``, the same result, faster: a top-level reference (most
    of them) is one lookup, the paths under one field are skipped together when the field holds
    only ASCII text, and NFC leaves ASCII text (O(1) to tell) as it is."""
    if "placements" in spec:  # a channel's placement names too: the general way
        normalize_references(kind, spec)
        return
    plan = _REFERENCE_PLANS.get(kind.name)
    if plan is None or plan[0] is not kind.refs:
        plan = _REFERENCE_PLANS[kind.name] = _reference_plan(kind.refs)
    for key in plan[1]:
        value = spec.get(key)
        if isinstance(value, str) and (type(value) is not str or not value.isascii()):
            spec[key] = normalize_name(value)
    for key, refs in plan[2]:
        value = spec.get(key)
        if value is None or _ascii_json(value):  # a path through a missing field finds nothing
            continue
        for ref in refs:
            ref.rewrite(spec, _nfc)


# (a kind's refs, their top-level fields, their other paths grouped by first field)
_RefPlan = tuple[tuple[RefPath, ...], tuple[str, ...], tuple[tuple[str, tuple[RefPath, ...]], ...]]


def _reference_plan(refs: tuple[RefPath, ...]) -> _RefPlan:
    """How ``_normalize_references`` goes through ``refs`` (NFC is idempotent: order and repeats
    do not matter)."""
    top = tuple(dict.fromkeys(ref.steps[0].key or "" for ref in refs if len(ref.steps) == 1))
    nested: dict[str, list[RefPath]] = {}
    for ref in refs:
        if len(ref.steps) != 1:
            nested.setdefault(ref.steps[0].key or "", []).append(ref)
    return refs, top, tuple((key, tuple(group)) for key, group in nested.items())


def _ascii_json(value: Any) -> bool:
    """Whether every text (key or value) in a JSON-like ``value`` is ASCII: one C call."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).isascii()
    except TypeError:  # not JSON-like after all: say no, and let the paths be followed
        return False


_REFERENCE_PLANS: dict[str, _RefPlan] = {}  # by kind name, made on first use


def _sub_model_issues(kind: KindDef, spec: dict[str, Any], entry: RawEntry, subject: str | None,
                      issues: list[Issue]) -> None:
    """Issues of the selector-chosen parts (a rule's config, a node's config) of ``spec``.

    ``spec`` may be the raw, invalid spec: parts whose selector or shape the spec
    model already refused are skipped, so nothing is reported twice.
    """
    for sub in kind.sub_models:
        for where, container in sub_containers(spec, sub):
            selector, part = container.get(sub.selector, ""), container.get(sub.part)
            model = sub.models.get(selector) if isinstance(selector, str) else None
            if model is None or not isinstance(part, dict | None):
                continue
            try:
                model.model_validate(part or {})
            except ValidationError as exc:
                issues += pydantic_issues(exc, model, entry, ("spec", *where, sub.part), subject)


# ------------------------------------------------------ pydantic error wording
def pydantic_issues(exc: ValidationError, model: type[BaseModel], entry: RawEntry | None,
                    prefix: PathT, subject: str | None) -> list[Issue]:
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        path = (*prefix, *loc)
        message = _wording(err, model, loc)
        where = None
        if entry is not None:
            where = entry.locate_key(path) if err["type"] == "extra_forbidden" else entry.locate(path)
        out.append(Issue(message, where, resource=subject, path=format_path(path)))
    return out


def _type_word(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    return type(value).__name__ if isinstance(value, dict | list) else repr(value)


def _wording(err: Any, model: type[BaseModel], loc: PathT) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        if not loc:  # pydantic reports some keys (e.g. non-string ones) without a location
            return f"unknown field {_type_word(value)}"
        options = _fields_at(model, loc[:-1])
        return f"unknown field {loc[-1]!r}{_hint(str(loc[-1]), options)}"
    if kind == "missing":
        return "is required"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {_type_word(value)})"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number (got {_type_word(value)})"
    if kind == "finite_number":
        return f"must be a finite number (got {_type_word(value)})"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number (got {_type_word(value)})"
    if kind == "string_type":
        return f"must be a string (got {_type_word(value)}); quote it"
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in str(expected).replace(" or ", ",").split(",") if o.strip()]
        return f"{_type_word(value)} is not one of {', '.join(options)}{_hint(str(value), options)}"
    if kind == "less_than_equal":
        return f"must be <= {ctx.get('le')} (got {_type_word(value)})"
    if kind == "greater_than_equal":
        return f"must be >= {ctx.get('ge')} (got {_type_word(value)})"
    if kind == "greater_than":
        return f"must be > {ctx.get('gt')} (got {_type_word(value)})"
    if kind == "less_than":
        return f"must be < {ctx.get('lt')} (got {_type_word(value)})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping (got {_type_word(value)})"
    if kind == "list_type":
        return f"must be a list (got {_type_word(value)})"
    if kind == "string_pattern_mismatch":
        return f"{_type_word(value)} does not match the expected format {ctx.get('pattern')}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)"
    return str(err.get("msg", "is invalid"))


def _fields_at(model: type[BaseModel], loc: PathT) -> list[str]:
    """Field names of the model found at ``loc`` inside ``model`` (for did-you-mean)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None)
        if info is None:
            return []
        current = _inner_model(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _inner_model(annotation: Any) -> Any:
    """The model inside ``annotation`` (``Model``, ``Model | None``, ``list[Model]``), or None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):  # why: recursing on ``annotation`` itself never ended
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


# ----------------------------------------------------------- bundle-wide rules
def check_bundle_rules(resources: list[Resource]) -> list[Issue]:
    """Rules across resources that need no database: duplicates and uniqueness."""
    issues: list[Issue] = []
    seen: dict[tuple[str, str], Resource] = {}
    for r in resources:
        first = seen.get((r.kind, r.name))
        if first is None:
            seen[(r.kind, r.name)] = r
            continue
        issues.append(Issue(
            f"duplicate resource {r.quoted}: declared at {_where(first)} and again at {_where(r)}",
            _loc(r), resource=r.quoted))
    for r in resources:
        if r.kind in _RULE_KINDS or "scopes" in r.spec:  # the others have no rule to break
            issues += _resource_rules(r)
    issues += _unique_fields(resources)
    defaults = [r for r in resources if r.kind == "DecisionFlow" and r.spec.get("isDefault")]
    if len(defaults) > 1:
        names = ", ".join(r.quoted for r in defaults)
        issues.append(Issue(f"at most one DecisionFlow may be the default (isDefault: true); found {names}",
                            _loc(defaults[1], ("spec", "isDefault")), resource=defaults[1].quoted,
                            path="spec.isDefault"))
    return issues


def _loc(r: Resource, path: PathT = ()) -> Any:
    return r.origin.locate(path) if r.origin is not None else None


def _where(r: Resource) -> str:
    entry = r.origin
    if entry is None:
        return "the database"
    loc = entry.locate()
    label = format_path(entry.prefix) or entry.doc.file
    return f"{label} ({loc})" if loc else label


def _unique_fields(resources: list[Resource]) -> list[Issue]:
    issues = []
    claimed: dict[tuple[str, str, Any], Resource] = {}
    for r in resources:
        for fname in KIND_BY_NAME[r.kind].unique_fields:  # r.kind_def, without the property call
            value = r.spec.get(fname)
            if value is None:
                continue
            other = claimed.setdefault((r.kind, fname, value), r)
            if other is not r:
                issues.append(Issue(
                    f"{fname} {value!r} is used by both {other.quoted} and {r.quoted}; it must be unique",
                    _loc(r, ("spec", fname)), resource=r.quoted, path=f"spec.{fname}",
                    extra_locations=tuple(x for x in [_loc(other, ("spec", fname))] if x)))
    return issues


_RULE_KINDS = frozenset({"Channel", "DecisionFlow", "ContactPolicy", "Category", "SubCategory"})


def _resource_rules(r: Resource) -> list[Issue]:
    """Per-resource rules a field model cannot express (only ``scopes`` and _RULE_KINDS have any)."""
    issues: list[Issue] = []

    def add(msg: str, path: PathT) -> None:
        issues.append(Issue(msg, _loc(r, path), resource=r.quoted, path=format_path(path)))

    spec = r.spec
    for i, scope in enumerate(spec.get("scopes", [])):
        if scope.get("scope") != "global" and not scope.get("target"):
            add(f"a {scope.get('scope')} scope needs a target (without one the platform treats it as global)",
                ("spec", "scopes", i))
        if scope.get("scope") == "global" and scope.get("target"):
            add("a global scope takes no target", ("spec", "scopes", i, "target"))
    if r.kind == "Channel":
        _unique_in_list(spec.get("placements", []), "name", ("spec", "placements"), "placement name", add)
    if r.kind == "DecisionFlow":
        _unique_in_list(spec.get("nodes", []), "id", ("spec", "nodes"), "node id", add)
        for i, node in enumerate(spec.get("nodes", [])):
            config = node.get("config", {})
            if node.get("type") in ("qualify", "contact_policy"):
                listed = "rules" if node["type"] == "qualify" else "policies"
                if config.get(listed) and config.get("mode", "all") != "selected":
                    add(f"{listed} are only used with mode: selected", ("spec", "nodes", i, "config", listed))
                if config.get("mode") == "selected" and not config.get(listed):
                    add(f"mode: selected needs a list of {listed}", ("spec", "nodes", i, "config", "mode"))
    caps = ("maxPerDay", "maxPerWeek", "maxPerMonth")
    if (r.kind == "ContactPolicy" and spec.get("ruleType") in ("frequency_cap", "customer_total_cap")
            and not any(spec.get("config", {}).get(k) is not None for k in caps)):
        add("needs at least one of maxPerDay, maxPerWeek, maxPerMonth", ("spec", "config"))
    if r.kind in ("Category", "SubCategory"):
        _unique_in_list(spec.get("customFields", []), "key", ("spec", "customFields"), "custom field key", add)
    return issues


def _unique_in_list(items: list[dict[str, Any]], key: str, path: PathT, what: str, add: Any) -> None:
    seen: dict[Any, int] = {}
    for i, item in enumerate(items):
        value = item.get(key)
        if value in seen:
            add(f"duplicate {what} {value!r} (first at {format_path((*path, seen[value]))})", (*path, i, key))
        else:
            seen[value] = i
