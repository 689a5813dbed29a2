"""Spec models of the nine kinds (DESIGN §2 and appendix).

Specs are strict: unknown fields are errors, booleans are only true/false,
strings are never coerced from numbers. References are plain names here; the
kinds registry (``kinds.py``) says which fields are references and to what.

Sub-shapes that depend on a sibling value (a rule's ``config`` by ``ruleType``,
a flow node's ``config`` by ``type``) are checked by the registry's
``sub_models`` after the spec itself validated, so that errors keep their
exact field paths.
"""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["draft", "active", "paused", "archived"]
NonNegInt = int
Percent = int
Json = dict[str, Any]

ISO_DATE = r"^\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]+)?$"
# Why: ``ordinal`` and ``maxSlots`` are INTEGER columns. Unbounded, a value past 32 bits passed
# validate and plan, then apply failed: PostgreSQL "integer out of range", SQLite (past 64 bits)
# a raw OverflowError. The bound makes it a located schema error instead.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


# Import time (every command imports these models): the annotations here are real objects, not
# strings (no ``from __future__ import annotations``), so pydantic does not evaluate each one from
# text; a model is defined before the models that use it. The default factories are these Python
# functions rather than ``dict``/``list``: pydantic reads each factory's signature, and a builtin
# type's is slow to read. Neither changes what a model accepts or produces.
def _empty_dict() -> dict[str, Any]:
    return {}


def _empty_list() -> list[Any]:
    return []


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, allow_inf_nan=False)


class Loose(BaseModel):
    """Known keys are typed; other keys are free-form (flow node configs)."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


# ---------------------------------------------------------------- shared parts
class CustomField(Strict):
    key: str = Field(min_length=1)
    label: str | None = None
    type: Literal["text", "number", "boolean", "select", "date", "computed"] = "text"
    required: bool = False
    options: list[str] = Field(default_factory=_empty_list)
    defaultValue: Any = None
    formula: str | None = None
    outputType: str | None = None


class Scope(Strict):
    scope: Literal["global", "segment", "channel", "category", "subcategory", "offer", "creative", "placement"]
    target: str | None = Field(default=None, min_length=1)


# ---------------------------------------------------------------- kinds
class CategorySpec(Strict):
    description: str | None = None
    status: Status = "active"
    icon: str | None = None
    color: str | None = None
    ordinal: int | None = Field(default=None, ge=INT32_MIN, le=INT32_MAX)
    customFields: list[CustomField] = Field(default_factory=_empty_list)


class SubCategorySpec(Strict):
    category: str = Field(min_length=1)
    description: str | None = None
    status: Status = "active"
    icon: str | None = None
    ordinal: int | None = Field(default=None, ge=INT32_MIN, le=INT32_MAX)
    customFields: list[CustomField] = Field(default_factory=_empty_list)


class Placement(Strict):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    slotType: Literal["banner", "card", "inline", "modal"] = "banner"
    maxSlots: int = Field(default=1, ge=1, le=INT32_MAX)
    schema_: Json = Field(default_factory=_empty_dict, alias="schema")
    targeting: Json = Field(default_factory=_empty_dict)


class ChannelSpec(Strict):
    description: str | None = None
    status: Status = "draft"
    channelType: Literal["email", "push", "sms", "in_app", "web", "webhook", "whatsapp", "direct_mail"]
    deliveryMode: Literal["api", "file", "integration", "manual"] = "api"
    impressionMode: Literal["explicit", "implicit"] = "explicit"
    couplingMode: Literal["partial", "atomic"] = "partial"
    providerConfig: Json = Field(default_factory=_empty_dict)
    fileConfig: Json = Field(default_factory=_empty_dict)
    placements: list[Placement] = Field(default_factory=_empty_list)


class Budget(Strict):
    dailyCapCents: int | None = Field(default=None, ge=0)
    lifetimeCapCents: int | None = Field(default=None, ge=0)


class Schedule(Strict):
    startDate: str | None = Field(default=None, pattern=ISO_DATE)
    endDate: str | None = Field(default=None, pattern=ISO_DATE)


class Inventory(Strict):
    totalStock: int | None = Field(default=None, ge=0)


class PerCustomerCaps(Strict):
    daily: int | None = Field(default=None, ge=0)
    weekly: int | None = Field(default=None, ge=0)
    monthly: int | None = Field(default=None, ge=0)


class FrequencyCaps(Strict):
    perCustomer: PerCustomerCaps | None = None


class OfferSpec(Strict):
    category: str = Field(min_length=1)
    subCategory: str | None = Field(default=None, min_length=1)
    description: str | None = None
    status: Status = "draft"
    priority: int = Field(default=50, ge=0, le=100)
    businessValue: float | None = None
    weight: int | None = Field(default=None, ge=0, le=100)
    mandatory: bool = False
    shortDesc: str | None = None
    tags: list[str] = Field(default_factory=_empty_list)
    productType: str | None = None
    margin: float | None = None
    revenueValue: float | None = None
    eligibility: Json = Field(default_factory=_empty_dict)
    budget: Budget | None = None
    schedule: Schedule | None = None
    inventory: Inventory | None = None
    frequencyCaps: FrequencyCaps | None = None
    customFields: Json = Field(default_factory=_empty_dict)
    metadata: Json = Field(default_factory=_empty_dict)


class Personalization(Strict):
    variable: str = Field(min_length=1)
    source: str | None = None
    fallback: str | None = None


TemplateType = Literal[
    "email_html", "email_text", "push_notification", "sms_text", "in_app_banner", "in_app_modal",
    "in_app_card", "web_banner", "web_overlay", "webhook_payload", "whatsapp_template",
]


class CreativeSpec(Strict):
    offer: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    placement: str | None = Field(default=None, min_length=1)
    description: str | None = None
    status: Status = "draft"
    templateType: TemplateType
    content: Json = Field(default_factory=_empty_dict)
    personalization: list[Personalization] = Field(default_factory=_empty_list)
    constraints: Json = Field(default_factory=_empty_dict)
    abTestVariant: str | None = None
    weight: int = Field(default=100, ge=0, le=100)


QualificationRuleType = Literal[
    "segment_required", "attribute_condition", "propensity_threshold", "recency_check", "metric_condition",
]


class QualificationRuleSpec(Strict):
    description: str | None = None
    status: Status = "active"
    ruleType: QualificationRuleType
    config: Json = Field(default_factory=_empty_dict)
    stage: Literal["eligibility", "fit", "match", "ranking"] = "eligibility"
    priority: int = Field(default=50, ge=0, le=100)
    scopes: list[Scope] = Field(default_factory=_empty_list)


ContactPolicyType = Literal[
    "frequency_cap", "cooldown", "budget_exhausted", "outcome_based", "segment_exclusion", "time_window",
    "mutual_exclusion", "cross_channel_cap", "customer_total_cap", "category_suppression",
    "allow_override", "do_not_contact",
]


class ContactPolicySpec(Strict):
    description: str | None = None
    status: Status = "active"
    ruleType: ContactPolicyType
    config: Json = Field(default_factory=_empty_dict)
    priority: int = Field(default=50, ge=0, le=100)
    scopes: list[Scope] = Field(default_factory=_empty_list)


class ArbitrationProfileSpec(Strict):
    key: str = Field(pattern=r"^[a-z0-9_-]+$", min_length=1, max_length=100)
    description: str | None = None
    status: Status = "active"
    weights: dict[str, float] = Field(default_factory=_empty_dict)
    config: Json = Field(default_factory=_empty_dict)


NodeType = Literal[
    "inventory", "filter", "match_creatives", "enrich", "qualify", "contact_policy", "conditional",
    "call_flow", "score", "optimize", "rank", "group", "compute", "set_properties", "response",
]


class FlowNode(Strict):
    id: str = Field(min_length=1)
    type: NodeType
    phase: int = Field(default=1, ge=1, le=3)
    config: Json = Field(default_factory=_empty_dict)


class DecisionFlowSpec(Strict):
    key: str = Field(min_length=1, max_length=100)
    description: str | None = None
    status: Status = "draft"
    autoAssembly: bool = False
    couplingOverride: Literal["partial", "atomic"] | None = None
    isDefault: bool = False
    nodes: list[FlowNode] = Field(default_factory=_empty_list)


# --------------------------------------------------- configs by rule / node type
Operator = Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "not_exists"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class SegmentRequired(Strict):
    requiredSegments: list[str] = Field(min_length=1)
    matchMode: Literal["any", "all"] = "any"


class AttributeCondition(Strict):
    attribute: str = Field(min_length=1)
    operator: Operator
    value: Any = None


class PropensityThreshold(Strict):
    model: str = Field(min_length=1)
    threshold: float = Field(ge=0, le=1)
    multiplierBelow: float | None = Field(default=None, ge=0, le=1)


class RecencyCheck(Strict):
    minDaysSinceLastImpression: int = Field(ge=0)


class MetricCondition(Strict):
    metric: str = Field(min_length=1)
    operator: Operator
    value: Any = None


class FrequencyCap(Strict):
    maxPerDay: int | None = Field(default=None, ge=0)
    maxPerWeek: int | None = Field(default=None, ge=0)
    maxPerMonth: int | None = Field(default=None, ge=0)
    lookbackHours: int | None = Field(default=None, ge=1)


class Cooldown(Strict):
    cooldownHours: int = Field(gt=0)


class BudgetExhausted(Strict):
    budgetField: Literal["impressions", "spend"]
    threshold: float


class OutcomeBased(Strict):
    afterOutcomes: list[str] = Field(min_length=1)
    suppressForDays: int = Field(ge=0)


class SegmentExclusion(Strict):
    excludeSegments: list[str] = Field(min_length=1)


class TimeWindow(Strict):
    startHour: int = Field(ge=0, le=23)
    endHour: int = Field(ge=0, le=23)
    daysOfWeek: list[Weekday] = Field(default_factory=_empty_list)
    timezone: str = "UTC"


class MutualExclusion(Strict):
    excludeOffers: list[str] = Field(min_length=1)


class CrossChannelCap(Strict):
    maxPerDay: int | None = Field(default=None, ge=0)
    maxPerWeek: int | None = Field(default=None, ge=0)
    appliesAcross: list[str] = Field(min_length=1)


class CustomerTotalCap(Strict):
    maxPerDay: int | None = Field(default=None, ge=0)
    maxPerWeek: int | None = Field(default=None, ge=0)
    maxPerMonth: int | None = Field(default=None, ge=0)


class CategorySuppression(Strict):
    category: str = Field(min_length=1)
    subCategory: str | None = Field(default=None, min_length=1)
    suppressionDays: int = Field(ge=0)


class AllowOverride(Strict):
    reason: str = Field(min_length=1)


class DoNotContact(Strict):
    dncSource: str = Field(min_length=1)
    reason: str | None = None


QUALIFICATION_CONFIGS: dict[str, type[BaseModel]] = {
    "segment_required": SegmentRequired,
    "attribute_condition": AttributeCondition,
    "propensity_threshold": PropensityThreshold,
    "recency_check": RecencyCheck,
    "metric_condition": MetricCondition,
}

CONTACT_POLICY_CONFIGS: dict[str, type[BaseModel]] = {
    "frequency_cap": FrequencyCap,
    "cooldown": Cooldown,
    "budget_exhausted": BudgetExhausted,
    "outcome_based": OutcomeBased,
    "segment_exclusion": SegmentExclusion,
    "time_window": TimeWindow,
    "mutual_exclusion": MutualExclusion,
    "cross_channel_cap": CrossChannelCap,
    "customer_total_cap": CustomerTotalCap,
    "category_suppression": CategorySuppression,
    "allow_override": AllowOverride,
    "do_not_contact": DoNotContact,
}


class InventoryNode(Loose):
    categories: list[str] = Field(default_factory=_empty_list)
    subCategories: list[str] = Field(default_factory=_empty_list)
    offers: list[str] = Field(default_factory=_empty_list)
    includeStatuses: list[Status] = Field(default_factory=_empty_list)


class QualifyNode(Loose):
    mode: Literal["all", "selected", "skip"] = "all"
    rules: list[str] = Field(default_factory=_empty_list)


class ContactPolicyNode(Loose):
    mode: Literal["all", "selected", "skip"] = "all"
    policies: list[str] = Field(default_factory=_empty_list)


class MatchCreativesNode(Loose):
    requireCreative: bool = False
    placementMatchMode: Literal["exact", "any", "none"] = "any"


class StrategyOverride(Strict):
    scope: Literal["category", "productType", "channel"]
    value: str
    profile: str = Field(min_length=1)


class ScoreNode(Loose):
    method: Literal["priority_weighted", "propensity", "formula"] = "priority_weighted"
    strategyProfile: str | None = Field(default=None, min_length=1)
    strategyOverrides: list[StrategyOverride] = Field(default_factory=_empty_list)


class OptimizeNode(Loose):
    profile: str = Field(min_length=1)


class RankNode(Loose):
    method: Literal["top_n", "diversity"] = "top_n"
    maxCandidates: int = Field(default=1, ge=1)


class CallFlowNode(Loose):
    flow: str = Field(min_length=1)


NODE_CONFIGS: dict[str, type[BaseModel]] = {
    "inventory": InventoryNode,
    "qualify": QualifyNode,
    "contact_policy": ContactPolicyNode,
    "match_creatives": MatchCreativesNode,
    "score": ScoreNode,
    "optimize": OptimizeNode,
    "rank": RankNode,
    "call_flow": CallFlowNode,
}
