"""Hypothesis strategies of valid bundles across the nine kinds, with consistent references.

``bundles()`` draws a ``Generated``: the bundle document (plain dicts and lists, as a user
would write it) plus what the generator knows independently of the engine: every resource's
kind and name, and which resources something references (so a test can rename a leaf).

Names are unicode text (any character but controls and surrogates, see ``test_names.py`` for
those), unique per kind after NFC normalisation. Optional fields are sometimes present and
sometimes absent; free-form JSON (``providerConfig``, ``eligibility``, node configs ...) is
arbitrary JSON with unicode keys, 64-bit integers and finite floats.

Edges the generator reaches on purpose (each found by these tests and fixed; each also has a
test of its own): placement names holding ``/`` (``test_names.py``), integral floats of
1e16 <= |x| < 2**64 in free-form JSON (``test_properties.py``). Integers past 64 bits are left
out: they are refused with a located error (``test_fuzz.py``).
"""

from __future__ import annotations

import os
import string
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from decisionform.bundle.specs import INT32_MAX, INT32_MIN

API_VERSION = "decisionform/v1"
STATUSES = ["draft", "active", "paused", "archived"]
KIND_ORDER = ["Category", "SubCategory", "Channel", "Offer", "Creative", "QualificationRule",
              "ContactPolicy", "ArbitrationProfile", "DecisionFlow"]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# ------------------------------------------------------------------ text
# Any character but surrogates; NUL is refused everywhere (PostgreSQL cannot store it).
TEXT_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
# Names: no control characters (C0, DEL, C1) either.
NAME_CHARS = st.characters(blacklist_categories=("Cs", "Cc"))
TRICKY_NAMES = [
    "Gold Card", "gold card", "GOLD-CARD", "../../etc/passwd", "..", ".", ".hidden", "a/b", "/abs", "C:\\Win",
    "back\\slash", "CON", "nul", "NO", "no", "on", "y", "true", "null", "~", "010", "0x1F", "1e3", "12:30",
    "2026-01-01", "- x", "a: b", "#x", "&a", "*a", "!x", "%x", "@x", "`x", "'q", '"q', "{x}", "[x]", "|", ">",
    " lead", "trail ", "Café", "Cafe\u0301", "e\u0301\u0302\u0303", "日本語", "שלום עולם", "مرحبا",
    "\u202eevil\u202c", "😀🎉", "👩\u200d👩\u200d👧", "\u00a0nbsp", "zero\u200bwidth", "\ufeffbom",
    "x\u2028y", "Ｆｕｌｌ", "manifest", "resources", "x" * 255, "😀" * 255,
]
texts = st.text(TEXT_CHARS, max_size=30)
short_texts = st.text(TEXT_CHARS, min_size=1, max_size=12)


def _name_ok(name: str) -> bool:
    normal = nfc(name)
    return bool(normal.strip()) and len(normal) <= 255


names = st.one_of(st.sampled_from(TRICKY_NAMES), st.text(NAME_CHARS, min_size=1, max_size=24)).filter(_name_ok)
placement_names = names


def unique_names(min_size: int, max_size: int, pool: st.SearchStrategy[str] = names) -> st.SearchStrategy[list[str]]:
    return st.lists(pool, min_size=min_size, max_size=max_size, unique_by=nfc)


# ------------------------------------------------------------------ free-form JSON
json_ints = st.one_of(st.integers(-(2**31), 2**31), st.integers(-(2**63), 2**63 - 1))
json_floats = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.one_of(st.none(), st.booleans(), json_ints, json_floats, texts)
json_keys = st.text(TEXT_CHARS, max_size=10)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(json_keys, inner, max_size=3)), max_leaves=6)
json_objects = st.dictionaries(json_keys, json_values, max_size=3)


def absent(value: Any) -> bool:
    """True for what the canonical form reads as "not given": null, [], and mappings of only such."""
    return value is None or value == [] or (isinstance(value, dict) and all(absent(v) for v in value.values()))


present_values = json_values.filter(lambda v: not absent(v))
string_maps = st.dictionaries(st.text(TEXT_CHARS, max_size=15), texts, max_size=3)
dates = st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}")
date_times = st.tuples(dates, st.times()).map(lambda p: f"{p[0]}T{p[1].strftime('%H:%M:%S')}Z")
keys = st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=20)


@dataclass
class Generated:
    """A generated bundle and what the generator knows about it."""

    doc: dict[str, Any]
    names: dict[str, list[str]] = field(default_factory=dict)  # kind -> names as written
    referenced: set[tuple[str, str]] = field(default_factory=set)  # (kind, NFC name) something references

    @property
    def resources(self) -> list[dict[str, Any]]:
        return self.doc["resources"]

    def addresses(self) -> set[tuple[str, str]]:
        """(kind, NFC name) of every resource: what an export of it must hold."""
        return {(kind, nfc(name)) for kind, listed in self.names.items() for name in listed}

    def leaves(self) -> list[int]:
        """Indexes of the resources nothing references (they can be renamed or dropped alone)."""
        return [i for i, r in enumerate(self.resources)
                if (_canonical_kind(r["kind"]), nfc(r["metadata"]["name"])) not in self.referenced]


def _canonical_kind(kind: str) -> str:
    return "ArbitrationProfile" if kind == "RankingProfile" else kind


class _Draw:
    """The state of one bundle being drawn."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.gen = Generated(doc={})
        self.sub_of: dict[str, list[str]] = {}  # category -> its sub-categories
        self.placements: dict[str, list[str]] = {}  # channel -> its placement names
        self.category_fields: dict[str, list[dict[str, Any]]] = {}

    def maybe(self, spec: dict[str, Any], key: str, strategy: st.SearchStrategy[Any]) -> None:
        if self.draw(st.booleans()):
            spec[key] = self.draw(strategy)

    def ref(self, kind: str, name: str) -> str:
        self.gen.referenced.add((kind, nfc(name)))
        return name

    def pick(self, kind: str) -> str:
        return self.ref(kind, self.draw(st.sampled_from(self.gen.names[kind])))

    def pick_some(self, kind: str, min_size: int = 0, max_size: int = 3) -> list[str]:
        chosen = self.draw(st.lists(st.sampled_from(self.gen.names[kind]), min_size=min_size, max_size=max_size,
                                    unique_by=nfc))
        return [self.ref(kind, name) for name in chosen]

    def common(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.maybe(spec, "description", st.text(TEXT_CHARS, max_size=60))
        self.maybe(spec, "status", st.sampled_from(STATUSES))
        return spec

    def resource(self, kind: str, name: str, spec: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.draw(st.booleans()):
            out["apiVersion"] = API_VERSION
        if kind == "ArbitrationProfile" and self.draw(st.integers(0, 3)) == 0:
            kind = "RankingProfile"  # the alias
        out["kind"] = kind
        metadata: dict[str, Any] = {"name": name}
        self.maybe(metadata, "labels", string_maps)
        self.maybe(metadata, "annotations", string_maps)
        out["metadata"] = metadata
        if spec is not None:
            out["spec"] = spec
        return out


# ------------------------------------------------------------------ kinds
def _custom_fields(d: _Draw) -> list[dict[str, Any]]:
    fields = []
    for key in d.draw(st.lists(short_texts, max_size=3, unique=True)):
        item: dict[str, Any] = {"key": key}
        d.maybe(item, "type", st.sampled_from(["text", "number", "boolean", "select", "date", "computed"]))
        d.maybe(item, "label", texts)
        d.maybe(item, "required", st.booleans())
        if item.get("type") == "select":
            d.maybe(item, "options", st.lists(short_texts, max_size=3, unique=True))
        d.maybe(item, "defaultValue", json_values)
        if item.get("type") == "computed":
            d.maybe(item, "formula", texts)
            d.maybe(item, "outputType", st.sampled_from(["number", "text"]))
        fields.append(item)
    return fields


def _category(d: _Draw, name: str) -> dict[str, Any] | None:
    spec = d.common({})
    d.maybe(spec, "icon", texts)
    d.maybe(spec, "color", texts)
    d.maybe(spec, "ordinal", st.integers(INT32_MIN, INT32_MAX))
    fields = _custom_fields(d) if d.draw(st.booleans()) else []
    if fields:
        spec["customFields"] = fields
    d.category_fields[name] = fields
    return spec or (None if d.draw(st.booleans()) else {})


def _sub_category(d: _Draw, name: str) -> dict[str, Any]:
    category = d.pick("Category")
    d.sub_of.setdefault(category, []).append(name)
    spec = d.common({"category": category})
    d.maybe(spec, "icon", texts)
    d.maybe(spec, "ordinal", st.integers(INT32_MIN, INT32_MAX))
    if d.draw(st.booleans()):
        spec["customFields"] = _custom_fields(d)
    return spec


def _channel(d: _Draw, name: str) -> dict[str, Any]:
    spec = d.common({"channelType": d.draw(st.sampled_from(
        ["email", "push", "sms", "in_app", "web", "webhook", "whatsapp", "direct_mail"]))})
    d.maybe(spec, "deliveryMode", st.sampled_from(["api", "file", "integration", "manual"]))
    d.maybe(spec, "impressionMode", st.sampled_from(["explicit", "implicit"]))
    d.maybe(spec, "couplingMode", st.sampled_from(["partial", "atomic"]))
    if d.draw(st.booleans()):
        config = d.draw(json_objects)
        if d.draw(st.booleans()):
            config["apiKey"] = d.draw(short_texts)  # a secret: exported as "(sensitive)"
        spec["providerConfig"] = config
    d.maybe(spec, "fileConfig", json_objects)
    placements = d.draw(unique_names(0, 3, placement_names))
    d.placements[name] = placements
    if placements or d.draw(st.booleans()):
        items = []
        for placement in placements:
            item: dict[str, Any] = {"name": placement}
            d.maybe(item, "description", texts)
            d.maybe(item, "slotType", st.sampled_from(["banner", "card", "inline", "modal"]))
            d.maybe(item, "maxSlots", st.integers(1, INT32_MAX))
            d.maybe(item, "schema", json_objects)
            d.maybe(item, "targeting", json_objects)
            items.append(item)
        spec["placements"] = items
    return spec


def _custom_value(d: _Draw, declared: dict[str, Any]) -> Any:
    ftype = declared.get("type", "text")
    if ftype == "number":
        return d.draw(st.one_of(st.integers(-(2**53), 2**53), json_floats))
    if ftype == "boolean":
        return d.draw(st.booleans())
    if ftype == "select" and declared.get("options"):
        return d.draw(st.sampled_from(declared["options"]))
    if ftype == "computed":
        return d.draw(present_values)
    return d.draw(texts)


def _offer(d: _Draw, name: str) -> dict[str, Any]:
    category = d.pick("Category")
    spec = d.common({"category": category})
    subs = d.sub_of.get(category, [])
    if subs and d.draw(st.booleans()):
        spec["subCategory"] = d.ref("SubCategory", d.draw(st.sampled_from(subs)))
    d.maybe(spec, "priority", st.integers(0, 100))
    d.maybe(spec, "businessValue", json_floats)
    d.maybe(spec, "weight", st.integers(0, 100))
    d.maybe(spec, "mandatory", st.booleans())
    d.maybe(spec, "shortDesc", texts)
    d.maybe(spec, "tags", st.lists(texts, max_size=3))
    d.maybe(spec, "productType", texts)
    d.maybe(spec, "margin", json_floats)
    d.maybe(spec, "revenueValue", json_floats)
    d.maybe(spec, "eligibility", json_objects)
    caps = st.integers(0, 2**53)
    d.maybe(spec, "budget", st.fixed_dictionaries({}, optional={"dailyCapCents": caps, "lifetimeCapCents": caps}))
    d.maybe(spec, "schedule", st.fixed_dictionaries({}, optional={"startDate": st.one_of(dates, date_times),
                                                                  "endDate": dates}))
    d.maybe(spec, "inventory", st.fixed_dictionaries({}, optional={"totalStock": caps}))
    per_customer = st.fixed_dictionaries({}, optional={"daily": caps, "weekly": caps, "monthly": caps})
    d.maybe(spec, "frequencyCaps", st.fixed_dictionaries({}, optional={"perCustomer": per_customer}))
    values = {}
    for declared in d.category_fields.get(category, []):
        must = declared.get("required") and absent(declared.get("defaultValue"))
        if must or d.draw(st.booleans()):
            values[declared["key"]] = _custom_value(d, declared)
    if values or d.draw(st.booleans()):
        spec["customFields"] = values
    d.maybe(spec, "metadata", json_objects)
    return spec


def _creative(d: _Draw, name: str) -> dict[str, Any]:
    channel = d.pick("Channel")
    spec = d.common({"offer": d.pick("Offer"), "channel": channel, "templateType": d.draw(st.sampled_from([
        "email_html", "email_text", "push_notification", "sms_text", "in_app_banner", "in_app_modal",
        "in_app_card", "web_banner", "web_overlay", "webhook_payload", "whatsapp_template"]))})
    if d.placements.get(channel) and d.draw(st.booleans()):
        spec["placement"] = d.draw(st.sampled_from(d.placements[channel]))
    d.maybe(spec, "content", json_objects)
    d.maybe(spec, "personalization", st.lists(st.fixed_dictionaries(
        {"variable": short_texts}, optional={"source": texts, "fallback": texts}), max_size=2))
    d.maybe(spec, "constraints", json_objects)
    d.maybe(spec, "abTestVariant", texts)
    d.maybe(spec, "weight", st.integers(0, 100))
    return spec


def _scopes(d: _Draw) -> list[dict[str, Any]]:
    scopes: list[dict[str, Any]] = []
    kinds = {"channel": "Channel", "category": "Category", "subcategory": "SubCategory", "offer": "Offer",
             "creative": "Creative"}
    for _ in range(d.draw(st.integers(0, 3))):
        options = ["global", "segment", *(s for s, k in kinds.items() if d.gen.names.get(k))]
        with_placements = [c for c, p in d.placements.items() if p]
        if with_placements:
            options.append("placement")
        scope = d.draw(st.sampled_from(options))
        if scope == "global":
            scopes.append({"scope": "global"})
        elif scope == "segment":
            scopes.append({"scope": "segment", "target": d.draw(short_texts)})
        elif scope == "placement":
            channel = d.ref("Channel", d.draw(st.sampled_from(with_placements)))
            scopes.append({"scope": "placement", "target": f"{channel}/{d.draw(st.sampled_from(d.placements[channel]))}"})
        else:
            scopes.append({"scope": scope, "target": d.pick(kinds[scope])})
    return scopes


def _qualification_rule(d: _Draw, name: str) -> dict[str, Any]:
    rule = d.draw(st.sampled_from(["segment_required", "attribute_condition", "propensity_threshold",
                                   "recency_check", "metric_condition"]))
    operators = st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "not_exists"])
    unit = st.floats(0, 1)
    config = d.draw({
        "segment_required": st.fixed_dictionaries({"requiredSegments": st.lists(short_texts, min_size=1, max_size=3)},
                                                  optional={"matchMode": st.sampled_from(["any", "all"])}),
        "attribute_condition": st.fixed_dictionaries({"attribute": short_texts, "operator": operators},
                                                     optional={"value": json_values}),
        "propensity_threshold": st.fixed_dictionaries({"model": short_texts, "threshold": unit},
                                                      optional={"multiplierBelow": unit}),
        "recency_check": st.fixed_dictionaries({"minDaysSinceLastImpression": st.integers(0, 2**31)}),
        "metric_condition": st.fixed_dictionaries({"metric": short_texts, "operator": operators},
                                                  optional={"value": json_values}),
    }[rule])
    spec = d.common({"ruleType": rule, "config": config})
    d.maybe(spec, "stage", st.sampled_from(["eligibility", "fit", "match", "ranking"]))
    d.maybe(spec, "priority", st.integers(0, 100))
    if d.draw(st.booleans()):
        spec["scopes"] = _scopes(d)
    return spec


def _at_least_one_cap(d: _Draw, names: list[str]) -> dict[str, Any]:
    caps = {n: d.draw(st.integers(0, 10**6)) for n in names if d.draw(st.booleans())}
    if not caps:
        caps[d.draw(st.sampled_from(names))] = d.draw(st.integers(0, 10**6))
    return caps


def _contact_policy(d: _Draw, name: str) -> dict[str, Any]:
    rules = ["frequency_cap", "cooldown", "budget_exhausted", "outcome_based", "segment_exclusion", "time_window",
             "customer_total_cap", "allow_override", "do_not_contact", "category_suppression"]
    if d.gen.names.get("Offer"):
        rules.append("mutual_exclusion")
    if d.gen.names.get("Channel"):
        rules.append("cross_channel_cap")
    rule = d.draw(st.sampled_from(rules))
    config: dict[str, Any]
    if rule == "frequency_cap":
        config = _at_least_one_cap(d, ["maxPerDay", "maxPerWeek", "maxPerMonth"])
        d.maybe(config, "lookbackHours", st.integers(1, 10**4))
    elif rule == "customer_total_cap":
        config = _at_least_one_cap(d, ["maxPerDay", "maxPerWeek", "maxPerMonth"])
    elif rule == "cooldown":
        config = {"cooldownHours": d.draw(st.integers(1, 10**4))}
    elif rule == "budget_exhausted":
        config = {"budgetField": d.draw(st.sampled_from(["impressions", "spend"])), "threshold": d.draw(json_floats)}
    elif rule == "outcome_based":
        config = {"afterOutcomes": d.draw(st.lists(short_texts, min_size=1, max_size=3)),
                  "suppressForDays": d.draw(st.integers(0, 365))}
    elif rule == "segment_exclusion":
        config = {"excludeSegments": d.draw(st.lists(short_texts, min_size=1, max_size=3))}
    elif rule == "time_window":
        config = {"startHour": d.draw(st.integers(0, 23)), "endHour": d.draw(st.integers(0, 23))}
        d.maybe(config, "daysOfWeek", st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                                               max_size=7, unique=True))
        d.maybe(config, "timezone", st.sampled_from(["UTC", "Europe/Oslo", "America/New_York", "Asia/Kolkata"]))
    elif rule == "mutual_exclusion":
        config = {"excludeOffers": d.pick_some("Offer", min_size=1)}
    elif rule == "cross_channel_cap":
        config = {"appliesAcross": d.pick_some("Channel", min_size=1)}
        d.maybe(config, "maxPerDay", st.integers(0, 1000))
        d.maybe(config, "maxPerWeek", st.integers(0, 1000))
    elif rule == "category_suppression":
        category = d.pick("Category")
        config = {"category": category, "suppressionDays": d.draw(st.integers(0, 365))}
        if d.sub_of.get(category) and d.draw(st.booleans()):
            config["subCategory"] = d.ref("SubCategory", d.draw(st.sampled_from(d.sub_of[category])))
    elif rule == "allow_override":
        config = {"reason": d.draw(short_texts)}
    else:
        config = {"dncSource": d.draw(short_texts)}
        d.maybe(config, "reason", texts)
    spec = d.common({"ruleType": rule, "config": config})
    d.maybe(spec, "priority", st.integers(0, 100))
    if d.draw(st.booleans()):
        spec["scopes"] = _scopes(d)
    return spec


def _profile(d: _Draw, name: str, key: str) -> dict[str, Any]:
    spec = d.common({"key": key})
    objectives = st.one_of(st.sampled_from(["propensity", "relevance", "impact", "emphasis", "diversity", "clv"]),
                           short_texts)
    d.maybe(spec, "weights", st.dictionaries(objectives, st.floats(0, 1), max_size=4))
    d.maybe(spec, "config", json_objects)
    return spec


EXTRA = st.dictionaries(st.sampled_from(["note", "label", "x-extra"]), json_values, max_size=2)


def _node_config(d: _Draw, node_type: str, earlier_flows: list[str]) -> dict[str, Any] | None:
    names = d.gen.names
    config: dict[str, Any] = d.draw(EXTRA)
    if node_type == "inventory":
        for field_name, kind in (("categories", "Category"), ("subCategories", "SubCategory"), ("offers", "Offer")):
            if names.get(kind) and d.draw(st.booleans()):
                config[field_name] = d.pick_some(kind)
        d.maybe(config, "includeStatuses", st.lists(st.sampled_from(STATUSES), max_size=2, unique=True))
    elif node_type in ("qualify", "contact_policy"):
        kind, listed = ("QualificationRule", "rules") if node_type == "qualify" else ("ContactPolicy", "policies")
        modes = ["all", "skip", *(["selected"] if names.get(kind) else [])]
        mode = d.draw(st.sampled_from(modes))
        if mode == "selected":
            config.update(mode=mode, **{listed: d.pick_some(kind, min_size=1)})
        elif mode != "all" or d.draw(st.booleans()):
            config["mode"] = mode
    elif node_type == "match_creatives":
        d.maybe(config, "requireCreative", st.booleans())
        d.maybe(config, "placementMatchMode", st.sampled_from(["exact", "any", "none"]))
    elif node_type == "score":
        d.maybe(config, "method", st.sampled_from(["priority_weighted", "propensity", "formula"]))
        if names.get("ArbitrationProfile"):
            if d.draw(st.booleans()):
                config["strategyProfile"] = d.pick("ArbitrationProfile")
            if d.draw(st.booleans()):
                config["strategyOverrides"] = [
                    {"scope": d.draw(st.sampled_from(["category", "productType", "channel"])),
                     "value": d.draw(texts), "profile": d.pick("ArbitrationProfile")}
                    for _ in range(d.draw(st.integers(1, 2)))]
    elif node_type == "optimize":
        config["profile"] = d.pick("ArbitrationProfile")
    elif node_type == "rank":
        d.maybe(config, "method", st.sampled_from(["top_n", "diversity"]))
        d.maybe(config, "maxCandidates", st.integers(1, 1000))
    elif node_type == "call_flow":
        config["flow"] = d.ref("DecisionFlow", d.draw(st.sampled_from(earlier_flows)))  # earlier only: no cycle
    else:
        config.update(d.draw(json_objects))
    return config or (None if d.draw(st.booleans()) else {})


def _flow(d: _Draw, name: str, key: str, earlier: list[str], default: bool) -> dict[str, Any]:
    spec = d.common({"key": key})
    d.maybe(spec, "autoAssembly", st.booleans())
    d.maybe(spec, "couplingOverride", st.sampled_from(["partial", "atomic", None]))
    if default:
        spec["isDefault"] = True
    elif d.draw(st.booleans()):
        spec["isDefault"] = False
    types = ["inventory", "filter", "match_creatives", "enrich", "qualify", "contact_policy", "conditional",
             "score", "rank", "group", "compute", "set_properties", "response"]
    if d.gen.names.get("ArbitrationProfile"):
        types.append("optimize")
    if earlier:
        types.append("call_flow")
    nodes = []
    for node_id in d.draw(st.lists(short_texts, max_size=4, unique=True)):
        node_type = d.draw(st.sampled_from(types))
        node: dict[str, Any] = {"id": node_id, "type": node_type}
        d.maybe(node, "phase", st.integers(1, 3))
        config = _node_config(d, node_type, earlier)
        if config is not None:
            node["config"] = config
        nodes.append(node)
    if nodes or d.draw(st.booleans()):
        spec["nodes"] = nodes
    return spec


SIMPLE_KINDS = {"Category": _category, "SubCategory": _sub_category, "Channel": _channel, "Offer": _offer,
                "Creative": _creative, "QualificationRule": _qualification_rule, "ContactPolicy": _contact_policy}


@st.composite
def bundles(draw: st.DrawFn, max_per_kind: int = 3) -> Generated:
    """A valid bundle of up to ``max_per_kind`` resources of each kind (at least one category)."""
    d = _Draw(draw)
    counts = {kind: draw(st.integers(0, max_per_kind)) for kind in KIND_ORDER}
    counts["Category"] = max(1, counts["Category"])
    resources: list[dict[str, Any]] = []
    for kind in KIND_ORDER:
        count = counts[kind]
        if kind == "Creative" and not (d.gen.names.get("Offer") and d.gen.names.get("Channel")):
            count = 0
        listed = draw(unique_names(count, count))
        d.gen.names[kind] = []
        unique_keys = draw(st.lists(keys, min_size=count, max_size=count, unique=True)) if count else []
        default_at = draw(st.integers(-1, count - 1)) if kind == "DecisionFlow" and count else -1
        for i, name in enumerate(listed):
            if kind == "ArbitrationProfile":
                spec = _profile(d, name, unique_keys[i])
            elif kind == "DecisionFlow":
                spec = _flow(d, name, unique_keys[i], d.gen.names["DecisionFlow"][:], i == default_at)
            else:
                spec = SIMPLE_KINDS[kind](d, name)
            resources.append(d.resource(kind, name, spec))
            d.gen.names[kind].append(name)
    manifest: dict[str, Any] = {}
    d.maybe(manifest, "apiVersion", st.just(API_VERSION))
    d.maybe(manifest, "tenant", texts)
    d.maybe(manifest, "description", texts)
    order = draw(st.permutations(range(len(resources))))  # resource order is free
    d.gen.doc = {"resources": [resources[i] for i in order]}
    if manifest or draw(st.booleans()):
        d.gen.doc = {"manifest": manifest, **d.gen.doc}
    return d.gen


# ------------------------------------------------------------------ settings profiles
# Bounded and derandomized in the default run (failures reproduce: same examples every run);
# DECISIONFORM_STRESS=1 runs the ``slow`` variants with many more, random, examples.
STRESS = bool(os.environ.get("DECISIONFORM_STRESS"))
_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
          HealthCheck.filter_too_much, HealthCheck.large_base_example]
# No shrinking in the default run: with a database under each example it can take minutes. A
# failure prints its blob (@reproduce_failure) to replay and shrink it locally.
settings.register_profile("hardening", max_examples=20, derandomize=True, deadline=None, database=None,
                          suppress_health_check=_QUIET, print_blob=True,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.register_profile("hardening-stress", settings.get_profile("hardening"), max_examples=400,
                          derandomize=False, phases=list(Phase))
CI = settings.get_profile("hardening")
HEAVY = settings.get_profile("hardening-stress")
stress_only = pytest.mark.skipif(not STRESS, reason="set DECISIONFORM_STRESS=1")
