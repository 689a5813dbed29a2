"""Reference checks: every name a spec mentions must exist, and fit.

``Universe`` is what names can resolve to: the bundle's resources, plus (for
``plan``) the live database's. ``validate`` is offline and passes only the
bundle. Errors name the referrer, the field and the line, with a did-you-mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from decisionform.bundle.kinds import KIND_BY_NAME, PLACEMENT, RefPath
from decisionform.bundle.model import PathT, Resource, format_path
from decisionform.bundle.suggest import did_you_mean
from decisionform.errors import Issue


class Reference(NamedTuple):
    """One name a spec mentions. A tuple: a plan makes one per reference (tens of thousands)."""

    source: Resource
    ref: RefPath
    path: PathT  # inside spec
    target_kind: str  # a kind, or PLACEMENT
    target: str  # a name (PLACEMENT: "Channel/Placement")

    @property
    def field(self) -> str:
        return format_path(("spec", *self.path))

    def location(self) -> Any:
        return self.source.origin.locate(("spec", *self.path)) if self.source.origin is not None else None

    def target_address(self) -> str | None:
        """The graph address this reference depends on (a placement depends on its channel)."""
        if self.target_kind == PLACEMENT:
            return None
        return f"{self.target_kind}.{self.target}"


def references(resource: Resource) -> Iterator[Reference]:
    for ref in resource.kind_def.refs:
        for path, name in ref.find(resource.spec):
            yield Reference(resource, ref, path, ref.target, name)


class Universe:
    """Names that references may resolve to, by kind."""

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.by_kind: dict[str, dict[str, Resource]] = {k: {} for k in KIND_BY_NAME}
        for r in resources:
            self.by_kind[r.kind][r.name] = r
        self._placement_names: dict[str, frozenset[str]] = {}  # channel -> its placements, on first use

    def has_placement(self, channel: str, placement: str) -> bool:
        names = self._placement_names.get(channel)
        if names is None:
            names = self._placement_names[channel] = frozenset(self.placements(channel))
        return placement in names

    def get(self, kind: str, name: str) -> Resource | None:
        return self.by_kind.get(kind, {}).get(name)

    def placements(self, channel: str) -> list[str]:
        chan = self.get("Channel", channel)
        return [p["name"] for p in chan.spec.get("placements", [])] if chan else []

    def resolve(self, ref: Reference) -> Issue | None:
        """None when ``ref`` resolves; else the located problem."""
        if ref.target_kind == PLACEMENT:
            return self._resolve_placement(ref)
        if self.get(ref.target_kind, ref.target) is not None:
            return None
        hint = did_you_mean(ref.target, self.by_kind[ref.target_kind])
        tail = f"; did you mean {hint!r}?" if hint else ""
        return Issue(f"{ref.target_kind} {ref.target!r} not found{tail}", ref.location(),
                     resource=ref.source.quoted, path=ref.field)

    def _resolve_placement(self, ref: Reference) -> Issue | None:
        channels = self.by_kind["Channel"]
        if split_placement_ref(ref.target, self.has_placement):
            return None
        channel, _, placement = ref.target.rpartition("/")
        if channel not in channels:
            hint = did_you_mean(channel, channels)
            tail = f"; did you mean {hint!r}?" if hint else ""
            return Issue(f"Channel {channel!r} not found{tail}", ref.location(),
                         resource=ref.source.quoted, path=ref.field)
        hint = did_you_mean(placement, self.placements(channel))
        tail = f"; did you mean {hint!r}?" if hint else ""
        return Issue(f"placement {placement!r} is not a placement of Channel {channel!r}{tail}",
                     ref.location(), resource=ref.source.quoted, path=ref.field)


def split_placement_ref(text: str, exists: Callable[[str, str], bool]) -> tuple[str, str] | None:
    """(channel, placement) of a ``Channel/Placement`` reference. Names may hold "/", so every
    split is tried, the shortest channel first; ``exists`` says which one is real. The one rule
    for checking a reference and for writing its id."""
    for i, char in enumerate(text):
        if char == "/" and exists(text[:i], text[i + 1:]):
            return text[:i], text[i + 1:]
    return None


def check_references(resources: Iterable[Resource], universe: Universe) -> list[Issue]:
    """Every unresolved reference and every reference that does not fit its target."""
    issues: list[Issue] = []
    names = universe.by_kind
    for resource in resources:
        spec = resource.spec
        for ref in resource.kind_def.refs:
            target = ref.target
            known = names.get(target)
            steps = ref.steps
            if known is not None and len(steps) == 1 and not ref.qualifier:  # a top-level field: most
                name = spec.get(steps[0].key)  # type: ignore[arg-type]
                if name is None or not isinstance(name, str) or name in known:
                    continue
            for path, name in ref.find(spec):
                if known is not None and name in known:
                    continue  # the common case, without making a Reference
                problem = universe.resolve(Reference(resource, ref, path, target, name))
                if problem is not None:
                    issues.append(problem)
        if resource.kind == "Offer":
            issues += _fit(resource, universe)
    return issues


def _fit(r: Resource, universe: Universe) -> list[Issue]:
    """Cross-resource rules: a sub-category of the offer's category, custom fields by the category."""
    issues: list[Issue] = []
    if r.kind != "Offer":
        return issues
    category = universe.get("Category", r.spec.get("category", ""))
    sub_name = r.spec.get("subCategory")
    if sub_name:
        sub = universe.get("SubCategory", sub_name)
        if sub is not None and category is not None and sub.spec.get("category") != category.name:
            issues.append(_issue(r, ("subCategory",),
                                 f"SubCategory {sub_name!r} belongs to Category {sub.spec.get('category')!r}, "
                                 f"not to {category.name!r}"))
    if category is not None:
        issues += _custom_fields(r, category)
    return issues


def _issue(r: Resource, path: PathT, message: str) -> Issue:
    loc = r.origin.locate(("spec", *path)) if r.origin is not None else None
    return Issue(message, loc, resource=r.quoted, path=format_path(("spec", *path)))


_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int, float), "boolean": (bool,), "text": (str,), "select": (str,), "date": (str,),
}


def _custom_fields(r: Resource, category: Resource) -> list[Issue]:
    declared = {f["key"]: f for f in category.spec.get("customFields", [])}
    values: dict[str, Any] = r.spec.get("customFields", {})
    issues = []
    for key, value in values.items():
        field = declared.get(key)
        if field is None:
            hint = did_you_mean(key, declared)
            tail = f"; did you mean {hint!r}?" if hint else ""
            issues.append(_issue(r, ("customFields", key),
                                 f"Category {category.name!r} declares no custom field {key!r}{tail}"))
            continue
        ftype = field.get("type", "text")
        allowed = _FIELD_TYPES.get(ftype)
        bad_type = allowed is not None and (not isinstance(value, allowed) or
                                            (ftype == "number" and isinstance(value, bool)))
        if bad_type:
            issues.append(_issue(r, ("customFields", key), f"must be a {ftype} value (got {value!r})"))
        elif ftype == "select" and field.get("options") and value not in field["options"]:
            issues.append(_issue(r, ("customFields", key),
                                 f"{value!r} is not one of {', '.join(field['options'])}"))
    for key, field in declared.items():
        if field.get("required") and key not in values and field.get("defaultValue") is None:
            issues.append(_issue(r, ("customFields",),
                                 f"custom field {key!r} is required by Category {category.name!r}"))
    return issues
