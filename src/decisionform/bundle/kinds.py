"""The kinds registry: each kind declared once.

A ``KindDef`` names a kind's spec model, its table and id prefix, its folder
in the files layout, its references (``RefPath``) and its secret fields. The
loader, the planner, the SQL provider and the exporter are all driven by this
table: adding a kind is one more ``KindDef``.

Reference paths use a small path language over the spec:
``category`` (a top-level field), ``config.excludeOffers[]`` (each element of
a list), ``nodes[type=inventory].config.categories[]`` (only list elements
whose ``type`` is ``inventory``), ``scopes[scope=channel].target``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from decisionform.bundle import specs

PLACEMENT = "Placement"  # pseudo-kind: a channel's placement, named "Channel/Placement"


@dataclass(frozen=True, slots=True)
class Step:
    key: str | None = None  # a mapping key, or None for "each list element"
    match: tuple[str, str] | None = None  # element filter (field, value)


def parse_path(text: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    for part in text.split("."):
        m = re.fullmatch(r"([A-Za-z_][\w]*)(?:\[(?:(\w+)=(\w+))?\])?", part)
        if not m:
            raise ValueError(f"bad reference path {text!r}")
        key, fkey, fval = m.groups()
        steps.append(Step(key=key))
        if part.endswith("]"):
            steps.append(Step(match=(fkey, fval) if fkey else None))
    return tuple(steps)


@dataclass(frozen=True)
class RefPath:
    """A reference inside a spec: where it is and which kind it names.

    ``qualifier`` names a sibling top-level field whose value prefixes the
    name (a Creative's ``placement`` is a placement of its ``channel``).
    ``column`` marks a top-level reference stored as a foreign-key column;
    the others are stored as ids inside JSON.
    """

    path: str
    target: str
    qualifier: str | None = None
    steps: tuple[Step, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", parse_path(self.path))

    @property
    def column(self) -> bool:
        return len(self.steps) == 1

    def find(self, spec: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
        """(concrete path, referenced name) of every occurrence."""
        if len(self.steps) == 1 and not self.qualifier:  # a top-level field: most references
            key = self.steps[0].key
            value = spec.get(key) if key is not None else None
            return [((key,), value)] if isinstance(value, str) else []
        found: list[tuple[tuple[str | int, ...], Any]] = []
        _collect(spec, self.steps, 0, (), found)
        if self.qualifier:
            prefix = spec.get(self.qualifier)
            return [(loc, f"{prefix}/{value}") for loc, value in found if isinstance(value, str)]
        return [(loc, value) for loc, value in found if isinstance(value, str)]

    def rewrite(self, spec: dict[str, Any], fn: Callable[[str], str]) -> None:
        """Replace each referenced value in place by ``fn(value)``."""
        steps = self.steps
        key = steps[0].key
        if len(steps) == 1 and key is not None and isinstance(spec, dict):  # a top-level field: most
            value = spec.get(key)
            if isinstance(value, str):
                spec[key] = fn(value)
            return
        _rewrite(spec, steps, fn)


def _collect(node: Any, steps: tuple[Step, ...], at: int, loc: tuple[str | int, ...],
             found: list[tuple[tuple[str | int, ...], Any]]) -> None:
    """Append (path, value) for what ``steps[at:]`` reach from ``node`` (every spec, every plan: no generators)."""
    if at == len(steps):
        found.append((loc, node))
        return
    step = steps[at]
    if step.key is not None:
        child = node.get(step.key) if isinstance(node, dict) else None
        if child is not None:
            _collect(child, steps, at + 1, (*loc, step.key), found)
        return
    if isinstance(node, list):
        match = step.match
        for i, item in enumerate(node):
            if match is None or (isinstance(item, dict) and item.get(match[0]) == match[1]):
                _collect(item, steps, at + 1, (*loc, i), found)


def _rewrite(node: Any, steps: tuple[Step, ...], fn: Callable[[str], str], at: int = 0) -> None:
    step = steps[at]
    last = at + 1 == len(steps)
    if step.key is not None:
        if not isinstance(node, dict) or node.get(step.key) is None:
            return
        if not last:
            _rewrite(node[step.key], steps, fn, at + 1)
        elif isinstance(node[step.key], str):
            node[step.key] = fn(node[step.key])
        return
    if isinstance(node, list):
        match = step.match
        for i, item in enumerate(node):
            if match is not None and not (isinstance(item, dict) and item.get(match[0]) == match[1]):
                continue
            if not last:
                _rewrite(item, steps, fn, at + 1)
            elif isinstance(item, str):
                node[i] = fn(item)


@dataclass(frozen=True)
class SubModel:
    """A part of the spec whose shape depends on a sibling value."""

    items: str  # path of the part's container: "" (the spec itself) or "nodes[]"
    selector: str  # sibling field choosing the model: "ruleType" or "type"
    part: str  # field holding the part: "config"
    models: dict[str, type[BaseModel]]


@dataclass(frozen=True)
class KindDef:
    name: str
    folder: str
    table: str
    id_prefix: str
    spec_model: type[BaseModel]
    refs: tuple[RefPath, ...] = ()
    sub_models: tuple[SubModel, ...] = ()
    secret_fields: tuple[str, ...] = ()  # free-form mappings whose secret-looking keys are redacted
    unique_fields: tuple[str, ...] = ()  # spec fields unique per tenant besides the name

    @property
    def default_status(self) -> str:
        return self.spec_model.model_fields["status"].default


def _scope_refs() -> tuple[RefPath, ...]:
    by_scope = {
        "channel": "Channel", "category": "Category", "subcategory": "SubCategory",
        "offer": "Offer", "creative": "Creative", "placement": PLACEMENT,
    }
    return tuple(RefPath(f"scopes[scope={scope}].target", target) for scope, target in by_scope.items())


KINDS: tuple[KindDef, ...] = (
    KindDef("Category", "categories", "categories", "cat", specs.CategorySpec),
    KindDef("SubCategory", "sub-categories", "sub_categories", "sub", specs.SubCategorySpec,
            refs=(RefPath("category", "Category"),)),
    KindDef("Channel", "channels", "channels", "chn", specs.ChannelSpec,
            secret_fields=("providerConfig", "fileConfig")),
    KindDef("Offer", "offers", "offers", "off", specs.OfferSpec,
            refs=(RefPath("category", "Category"), RefPath("subCategory", "SubCategory"))),
    KindDef("Creative", "creatives", "creatives", "crv", specs.CreativeSpec,
            refs=(RefPath("offer", "Offer"), RefPath("channel", "Channel"),
                  RefPath("placement", PLACEMENT, qualifier="channel"))),
    KindDef("QualificationRule", "qualification-rules", "qualification_rules", "qr",
            specs.QualificationRuleSpec, refs=_scope_refs(),
            sub_models=(SubModel("", "ruleType", "config", specs.QUALIFICATION_CONFIGS),)),
    KindDef("ContactPolicy", "contact-policies", "contact_policies", "cp", specs.ContactPolicySpec,
            refs=(*_scope_refs(),
                  RefPath("config.excludeOffers[]", "Offer"),
                  RefPath("config.appliesAcross[]", "Channel"),
                  RefPath("config.category", "Category"),
                  RefPath("config.subCategory", "SubCategory")),
            sub_models=(SubModel("", "ruleType", "config", specs.CONTACT_POLICY_CONFIGS),)),
    KindDef("ArbitrationProfile", "arbitration-profiles", "arbitration_profiles", "ap",
            specs.ArbitrationProfileSpec, unique_fields=("key",)),
    KindDef("DecisionFlow", "decision-flows", "decision_flows", "df", specs.DecisionFlowSpec,
            refs=(RefPath("nodes[type=inventory].config.categories[]", "Category"),
                  RefPath("nodes[type=inventory].config.subCategories[]", "SubCategory"),
                  RefPath("nodes[type=inventory].config.offers[]", "Offer"),
                  RefPath("nodes[type=qualify].config.rules[]", "QualificationRule"),
                  RefPath("nodes[type=contact_policy].config.policies[]", "ContactPolicy"),
                  RefPath("nodes[type=score].config.strategyProfile", "ArbitrationProfile"),
                  RefPath("nodes[type=score].config.strategyOverrides[].profile", "ArbitrationProfile"),
                  RefPath("nodes[type=optimize].config.profile", "ArbitrationProfile"),
                  RefPath("nodes[type=call_flow].config.flow", "DecisionFlow")),
            sub_models=(SubModel("nodes[]", "type", "config", specs.NODE_CONFIGS),),
            unique_fields=("key",)),
)

KIND_BY_NAME: dict[str, KindDef] = {k.name: k for k in KINDS}
ALIASES: dict[str, str] = {"RankingProfile": "ArbitrationProfile"}
KIND_ORDER: dict[str, int] = {k.name: i for i, k in enumerate(KINDS)}

# Keys inside free-form provider settings whose values are secrets (matched
# case-insensitively on the key with separators removed).
SECRET_KEY_WORDS = ("token", "apikey", "password", "secret", "passwd", "pwd", "privatekey", "credential",
                    "authorization", "accesskey", "signingkey", "connectionstring", "dsn")


def resolve_kind(name: str) -> KindDef | None:
    return KIND_BY_NAME.get(ALIASES.get(name, name))


def kind_names() -> list[str]:
    return [k.name for k in KINDS]


def is_secret_key(key: str) -> bool:
    folded = re.sub(r"[^a-z]", "", key.lower())
    return any(word in folded for word in SECRET_KEY_WORDS)
