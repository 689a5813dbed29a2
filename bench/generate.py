"""Realistic bundles for the benchmark: the proportions of a real tenant.

A tenant is mostly offers and creatives; the rest is the structure around
them: a few channels (with placements), categories and sub-categories, and a
layer of rules, contact policies, arbitration profiles and decision flows
whose references (scopes, ``excludeOffers``, ``appliesAcross``, flow nodes)
point at offers, creatives, placements and each other.

Deterministic for a given size (a seeded ``random.Random``), so runs compare.

``bundles(n)`` gives three documents: ``base`` (n resources), ``changed``
(10% of them edited, spread over every kind) and ``pruned`` (``changed``
minus 10% of its resources: the newest offers with their creatives, which
nothing else references, so ``apply --prune`` can delete them).
"""

from __future__ import annotations

import copy
import random
from typing import Any

API = "decisionform/v1"
# Share of each kind in a tenant; creatives take what is left.
SHARES = {
    "Category": 0.010, "SubCategory": 0.030, "Channel": 0.004, "Offer": 0.300,
    "QualificationRule": 0.050, "ContactPolicy": 0.030, "ArbitrationProfile": 0.008, "DecisionFlow": 0.008,
}
MINIMUM = {"Category": 3, "SubCategory": 3, "Channel": 4, "Offer": 5, "QualificationRule": 2,
           "ContactPolicy": 2, "ArbitrationProfile": 2, "DecisionFlow": 2}
CHANGED_SHARE = 0.10
PRUNED_SHARE = 0.10
REFERENCED_OFFERS = 0.80  # rules, policies and flows reference only the oldest 80% of offers

WORDS = ("Platinum", "Gold", "Travel", "Cashback", "Family", "Fibre", "Unlimited", "Premium", "Starter",
         "Loyalty", "Summer", "Winter", "Student", "Business", "Green", "Smart", "Flex", "Max", "Plus", "Café",
         "Überweisung", "Rewards", "Saver", "Home", "Mobile", "Secure", "Instant", "Bonus", "Welcome", "Duo")
CHANNELS = (("Email", "email", "email_html"), ("Mobile App", "in_app", "in_app_card"),
            ("Web Shop", "web", "web_banner"), ("SMS", "sms", "sms_text"), ("Push", "push", "push_notification"),
            ("WhatsApp", "whatsapp", "whatsapp_template"), ("Call Centre", "webhook", "webhook_payload"),
            ("Direct Mail", "direct_mail", "email_text"))
SLOTS = ("banner", "card", "inline", "modal")
SEGMENTS = ("young_professionals", "families", "students", "retirees", "high_value", "churn_risk", "new_customers")
ATTRIBUTES = ("age", "tenure_months", "country", "balance", "plan_type", "device_os")


def counts(n: int) -> dict[str, int]:
    out = {kind: max(MINIMUM[kind], round(n * share)) for kind, share in SHARES.items()}
    out["Creative"] = max(5, n - sum(out.values()))
    return out


def _res(kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None,
         annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": API, "kind": kind, "metadata": metadata, "spec": spec}


class _Tenant:
    def __init__(self, n: int) -> None:
        self.rnd = random.Random(n)
        self.n = counts(n)
        self.resources: list[dict[str, Any]] = []
        self.categories: list[str] = []
        self.subs: list[tuple[str, str]] = []  # (sub-category, its category)
        self.channels: list[tuple[str, str, list[str]]] = []  # (name, template type, placements)
        self.offers: list[str] = []
        self.creatives: list[str] = []
        self.rules: list[str] = []
        self.policies: list[str] = []
        self.profiles: list[str] = []

    def words(self, k: int) -> str:
        return " ".join(self.rnd.choice(WORDS) for _ in range(k))

    def text(self, sentences: int) -> str:
        return " ".join(f"{self.words(6).capitalize()} for our {self.rnd.choice(SEGMENTS).replace('_', ' ')}."
                        for _ in range(sentences))

    def referable_offer(self) -> str:
        return self.offers[self.rnd.randrange(max(1, int(len(self.offers) * REFERENCED_OFFERS)))]

    # --------------------------------------------------------------- kinds
    def build(self) -> list[dict[str, Any]]:
        for i in range(self.n["Category"]):
            self.category(i)
        for i in range(self.n["SubCategory"]):
            self.sub_category(i)
        for i in range(self.n["Channel"]):
            self.channel(i)
        for i in range(self.n["Offer"]):
            self.offer(i)
        for i in range(self.n["Creative"]):
            self.creative(i)
        for i in range(self.n["QualificationRule"]):
            self.rule(i)
        for i in range(self.n["ContactPolicy"]):
            self.policy(i)
        for i in range(self.n["ArbitrationProfile"]):
            self.profile(i)
        for i in range(self.n["DecisionFlow"]):
            self.flow(i)
        return self.resources

    def category(self, i: int) -> None:
        name = f"{self.words(2)} Products {i:04d}"
        self.categories.append(name)
        fields = [{"key": "dataGb", "label": "Data allowance (GB)", "type": "number"},
                  {"key": "contractMonths", "label": "Contract length", "type": "select",
                   "options": ["0", "12", "24"]},
                  {"key": "esim", "label": "eSIM ready", "type": "boolean"}]
        self.resources.append(_res("Category", name, {
            "description": self.text(1), "icon": self.rnd.choice(("card", "plane", "home", "phone")),
            "color": self.rnd.choice(("blue", "teal", "amber", "slate")), "ordinal": i + 1,
            "customFields": fields[: 1 + i % 3]}, labels={"team": self.rnd.choice(("cards", "mobile", "home"))}))

    def sub_category(self, i: int) -> None:
        category = self.categories[i % len(self.categories)]
        name = f"{self.words(2)} Range {i:05d}"
        self.subs.append((name, category))
        self.resources.append(_res("SubCategory", name, {"category": category, "description": self.text(1),
                                                         "ordinal": i % 10 + 1}))

    def channel(self, i: int) -> None:
        label, channel_type, template = CHANNELS[i % len(CHANNELS)]
        name = label if i < len(CHANNELS) else f"{label} {i // len(CHANNELS) + 1}"
        slots = [f"{self.rnd.choice(('Home', 'Account', 'Checkout', 'Bill'))} {s.title()} {j + 1}"
                 for j, s in enumerate(SLOTS[: 2 + i % 3])]
        self.channels.append((name, template, slots))
        spec: dict[str, Any] = {
            "channelType": channel_type, "status": "active", "deliveryMode": "api",
            "placements": [{"name": s, "slotType": SLOTS[j % 4], "maxSlots": 1 + j % 3,
                            "targeting": {"platforms": ["ios", "android"]} if j % 2 else {}}
                           for j, s in enumerate(slots)]}
        if channel_type == "email":
            spec["providerConfig"] = {"provider": "mailgun", "domain": "mg.example.com",
                                      "apiKey": "example-key-not-real"}
        self.resources.append(_res("Channel", name, spec))

    def offer(self, i: int) -> None:
        sub, category = self.subs[i % len(self.subs)]
        name = f"{self.words(3)} Offer {i:06d}"
        self.offers.append(name)
        fields = {"dataGb": self.rnd.choice((10, 30, 100, 9999))}
        if self.categories.index(category) % 3 >= 1:
            fields["contractMonths"] = self.rnd.choice(("0", "12", "24"))
        if self.categories.index(category) % 3 == 2:
            fields["esim"] = self.rnd.random() < 0.5
        spec: dict[str, Any] = {
            "category": category, "subCategory": sub, "status": self.rnd.choice(("active", "active", "draft")),
            "description": self.text(2), "priority": self.rnd.randrange(101),
            "businessValue": round(self.rnd.uniform(10, 900), 2), "weight": self.rnd.randrange(101),
            "shortDesc": self.words(5), "tags": [w.lower() for w in self.words(3).split()],
            "productType": self.rnd.choice(("credit_card", "loan", "postpaid_plan", "broadband")),
            "margin": round(self.rnd.random(), 2),
            "eligibility": {"minAge": 18, "segments": [self.rnd.choice(SEGMENTS)]},
            "schedule": {"startDate": "2026-01-01", "endDate": "2026-12-31"},
            "budget": {"dailyCapCents": 100 * self.rnd.randrange(1000, 9000)},
            "frequencyCaps": {"perCustomer": {"daily": 1, "weekly": 3}},
            "customFields": fields}
        labels = {"team": self.rnd.choice(("cards", "mobile", "home")), "tier": self.rnd.choice(("gold", "base"))}
        self.resources.append(_res("Offer", name, spec, labels=labels))

    def creative(self, i: int) -> None:
        offer = self.offers[i % len(self.offers)]
        channel, template, slots = self.channels[i % len(self.channels)]
        name = f"{offer} – {channel} {i // len(self.offers) + 1}"
        self.creatives.append(name)
        spec = {
            "offer": offer, "channel": channel, "placement": slots[i % len(slots)], "templateType": template,
            "status": "active",
            "content": {"subject": f"{self.words(4)} {{{{firstName}}}}", "headline": self.words(6),
                        "body": f"<p>{self.text(3)}</p><p>{self.text(2)}</p>",
                        "cta": {"label": "Learn more", "url": f"https://example.com/o/{i}"}},
            "personalization": [{"variable": "firstName", "source": "profile.first_name", "fallback": "there"}],
            "weight": 50 + i % 51}
        if i % 4 == 0:
            spec["abTestVariant"] = "B"
        self.resources.append(_res("Creative", name, spec))

    def _scopes(self) -> list[dict[str, str]]:
        pick = self.rnd.randrange(6)
        if pick == 0:
            return [{"scope": "global"}]
        if pick == 1:
            return [{"scope": "offer", "target": self.referable_offer()}]
        if pick == 2:
            return [{"scope": "category", "target": self.rnd.choice(self.categories)}]
        if pick == 3:
            channel, _, slots = self.rnd.choice(self.channels)
            return [{"scope": "placement", "target": f"{channel}/{slots[0]}"}]
        if pick == 4:
            return [{"scope": "segment", "target": self.rnd.choice(SEGMENTS)}]
        creative = self.creatives[self.rnd.randrange(max(1, int(len(self.offers) * REFERENCED_OFFERS)))]
        return [{"scope": "creative", "target": creative}]

    def rule(self, i: int) -> None:
        name = f"{self.words(2)} Rule {i:05d}"
        self.rules.append(name)
        kind = i % 5
        rule_type, config = [
            ("segment_required", {"requiredSegments": [self.rnd.choice(SEGMENTS)], "matchMode": "any"}),
            ("attribute_condition", {"attribute": self.rnd.choice(ATTRIBUTES), "operator": "gte", "value": 18}),
            ("propensity_threshold", {"model": "propensity_v3", "threshold": 0.35}),
            ("recency_check", {"minDaysSinceLastImpression": 7}),
            ("metric_condition", {"metric": "clicks_30d", "operator": "lt", "value": 5}),
        ][kind]
        self.resources.append(_res("QualificationRule", name, {
            "ruleType": rule_type, "config": config, "stage": ("eligibility", "fit", "match", "ranking")[i % 4],
            "priority": self.rnd.randrange(101), "description": self.text(1), "scopes": self._scopes()}))

    def policy(self, i: int) -> None:
        name = f"{self.words(2)} Policy {i:05d}"
        self.policies.append(name)
        kind = i % 6
        if kind == 0:
            rule_type, config = "frequency_cap", {"maxPerDay": 2, "maxPerWeek": 5}
        elif kind == 1:
            rule_type, config = "mutual_exclusion", {"excludeOffers": [self.referable_offer() for _ in range(3)]}
        elif kind == 2:
            rule_type = "cross_channel_cap"
            config = {"maxPerDay": 3, "appliesAcross": [c[0] for c in self.channels[:2]]}
        elif kind == 3:
            sub, category = self.rnd.choice(self.subs)
            rule_type, config = "category_suppression", {"category": category, "subCategory": sub,
                                                          "suppressionDays": 14}
        elif kind == 4:
            rule_type, config = "cooldown", {"cooldownHours": 48}
        else:
            rule_type, config = "time_window", {"startHour": 8, "endHour": 20, "daysOfWeek": ["mon", "tue", "wed"],
                                                "timezone": "Europe/Berlin"}
        self.resources.append(_res("ContactPolicy", name, {
            "ruleType": rule_type, "config": config, "priority": self.rnd.randrange(101),
            "description": self.text(1), "scopes": self._scopes()}))

    def profile(self, i: int) -> None:
        name = f"{self.words(1)} Strategy {i:04d}"
        self.profiles.append(name)
        self.resources.append(_res("ArbitrationProfile", name, {
            "key": f"strategy-{i:04d}", "description": self.text(1),
            "weights": {"propensity": 0.4, "relevance": 0.3, "impact": round(self.rnd.random() * 0.3, 2)},
            "config": {"normalise": True}}))

    def flow(self, i: int) -> None:
        name = f"{self.words(2)} Flow {i:04d}"
        nodes: list[dict[str, Any]] = [
            {"id": "inventory", "type": "inventory", "phase": 1, "config": {
                "categories": self.rnd.sample(self.categories, min(2, len(self.categories))),
                "offers": [self.referable_offer() for _ in range(5)], "includeStatuses": ["active"]}},
            {"id": "qualify", "type": "qualify", "phase": 1, "config": {
                "mode": "selected", "rules": self.rnd.sample(self.rules, min(3, len(self.rules)))}},
            {"id": "contact", "type": "contact_policy", "phase": 2, "config": {
                "mode": "selected", "policies": self.rnd.sample(self.policies, min(2, len(self.policies)))}},
            {"id": "creatives", "type": "match_creatives", "phase": 2, "config": {"requireCreative": True}},
            {"id": "score", "type": "score", "phase": 3, "config": {
                "method": "priority_weighted", "strategyProfile": self.rnd.choice(self.profiles),
                "strategyOverrides": [{"scope": "channel", "value": "email",
                                       "profile": self.rnd.choice(self.profiles)}]}},
            {"id": "rank", "type": "rank", "phase": 3, "config": {"method": "top_n", "maxCandidates": 3}},
        ]
        if i:
            nodes.insert(1, {"id": "fallback", "type": "call_flow", "phase": 1,
                             "config": {"flow": self.resources[-1]["metadata"]["name"]}})
        self.resources.append(_res("DecisionFlow", name, {
            "key": f"flow-{i:04d}", "description": self.text(1), "isDefault": i == 0, "autoAssembly": i % 2 == 0,
            "nodes": nodes}))


def _edit(resource: dict[str, Any], i: int) -> None:
    """One realistic edit per kind (a valid change the plan must find)."""
    spec = resource["spec"]
    kind = resource["kind"]
    if kind == "Offer":
        spec["priority"] = (spec["priority"] + 7) % 101
        spec["budget"]["dailyCapCents"] += 500
    elif kind == "Creative":
        spec["content"]["headline"] = f"{spec['content']['headline']} (v2)"
    elif kind == "Channel":
        spec["placements"][0]["maxSlots"] += 1
    else:
        spec["description"] = f"{spec.get('description', '')} Revised {i}.".strip()


def bundles(n: int, tenant: str = "bench") -> dict[str, dict[str, Any]]:
    t = _Tenant(n)
    base = t.build()
    manifest = {"apiVersion": API, "tenant": tenant}
    changed = copy.deepcopy(base)
    step = round(1 / CHANGED_SHARE)
    for i, resource in enumerate(changed):
        if i % step == step // 2:
            _edit(resource, i)
    # Prune: the newest offers with their creatives (nothing else references them).
    creatives_of: dict[str, int] = {}
    for r in base:
        if r["kind"] == "Creative":
            creatives_of[r["spec"]["offer"]] = creatives_of.get(r["spec"]["offer"], 0) + 1
    dropped: set[str] = set()
    removed = 0
    for offer in reversed(t.offers[int(len(t.offers) * REFERENCED_OFFERS):]):
        if removed >= n * PRUNED_SHARE:
            break
        dropped.add(offer)
        removed += 1 + creatives_of.get(offer, 0)
    pruned = [r for r in changed if not (
        (r["kind"] == "Offer" and r["metadata"]["name"] in dropped)
        or (r["kind"] == "Creative" and r["spec"]["offer"] in dropped))]
    return {"base": {"manifest": manifest, "resources": base},
            "changed": {"manifest": manifest, "resources": changed},
            "pruned": {"manifest": manifest, "resources": pruned}}


def write(size: int, folder: str, tenant: str = "bench") -> None:
    """``bundle-SIZE-{base,changed,pruned}.yaml`` in ``folder``, written as ``export`` writes YAML."""
    from pathlib import Path

    from decisionform.bundle.dump import dump_yaml

    for name, doc in bundles(size, tenant).items():
        (Path(folder) / f"bundle-{size}-{name}.yaml").write_text(dump_yaml(doc), encoding="utf-8")


if __name__ == "__main__":  # python bench/generate.py SIZE FOLDER (run.py keeps its own memory small)
    import sys

    write(int(sys.argv[1]), sys.argv[2])
