"""Plan and drift documents, shaped exactly as the engine builds them, for the rendering tests."""

from __future__ import annotations

from typing import Any

TRICKY = "Café & Co. 5% Cashback | `Promo`"  # &, %, é, a pipe and a backtick


def _res(kind: str, name: str, spec: dict, labels: dict | None = None) -> dict:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "decisionform/v1", "kind": kind, "metadata": meta, "spec": spec}


def _create(kind: str, name: str, spec: dict, labels: dict | None = None) -> dict:
    return {"kind": kind, "name": name, "op": "create", "changedFields": [], "before": None,
            "after": _res(kind, name, spec, labels)}


def _summary(diffs: list[dict]) -> dict:
    ops = [d["op"] for d in diffs]
    return {"created": ops.count("create"), "updated": ops.count("update"),
            "deleted": ops.count("delete"), "unchanged": ops.count("unchanged")}


def _plan(plan_id: str, diffs: list[dict], prune: bool = False) -> dict:
    return {
        "formatVersion": "1.0",
        "planId": plan_id,
        "tenant": "northwind",
        "database": "postgresql://127.0.0.1:5432/prod",
        "createdAt": "2026-12-03T17:20:00Z",
        "options": {"prune": prune, "allowEmpty": False, "kinds": [], "targets": []},
        "dryRun": True,
        "diffs": diffs,
        "summary": _summary(diffs),
    }


def create_plan() -> dict:
    """A first plan of a Northwind-like bundle: 15 creates of several kinds."""
    diffs = [
        _create("Category", "Credit Cards", {"icon": "credit-card", "color": "#1f6feb", "ordinal": 1,
                                             "status": "active"}),
        _create("Category", "Loans", {"icon": "bank", "ordinal": 2, "status": "active"}),
        _create("SubCategory", "Premium Cards", {"category": "Credit Cards", "ordinal": 1, "status": "active"}),
        _create("Channel", "Email", {"channelType": "email", "deliveryMode": "api", "status": "draft",
                                     "providerConfig": {"provider": "sendgrid", "apiKey": "(sensitive)"}}),
        _create("Channel", "Push UI", {"channelType": "push", "deliveryMode": "integration", "status": "draft",
                                       "placements": [{"name": "home", "slotType": "banner", "maxSlots": 2}]}),
        _create("Offer", "Platinum Travel Card",
                {"category": "Credit Cards", "subCategory": "Premium Cards", "priority": 80,
                 "tags": ["travel", "premium"], "budget": {"dailyCapCents": 500000},
                 "shortDesc": "3x points on travel\nNo foreign fees", "status": "draft"},
                labels={"team": "cards", "decisionform/prevent-destroy": "true"}),
        _create("Offer", TRICKY, {"category": "Credit Cards", "priority": 55, "margin": 0.125,
                                  "shortDesc": "5% back | <b>everywhere</b>", "status": "draft"}),
        _create("Offer", "Summer Sale ☀️ — عرض الصيف", {"category": "Loans", "priority": 40, "status": "draft"}),
        _create("Creative", "Platinum Travel Card — Email",
                {"offer": "Platinum Travel Card", "channel": "Email", "templateType": "email_html",
                 "content": {"subject": "Fly further", "html": "<h1>Hi {{firstName}}</h1>"},
                 "weight": 100, "status": "draft"}),
        _create("Creative", "Platinum Travel Card — Push",
                {"offer": "Platinum Travel Card", "channel": "Push UI", "placement": "home",
                 "templateType": "push_notification", "content": {"title": "Fly further"}, "status": "draft"}),
        _create("QualificationRule", "Adults only",
                {"ruleType": "attribute_condition", "stage": "eligibility", "priority": 90,
                 "config": {"attribute": "age", "operator": "gte", "value": 18},
                 "scopes": [{"scope": "global"}], "status": "active"}),
        _create("ContactPolicy", "Max 3 a week",
                {"ruleType": "frequency_cap", "priority": 50, "config": {"maxPerWeek": 3},
                 "scopes": [{"scope": "channel", "target": "Email"}], "status": "active"}),
        _create("ArbitrationProfile", "Balanced",
                {"key": "balanced", "weights": {"propensity": 0.5, "relevance": 0.3, "impact": 0.2},
                 "status": "active"}),
        _create("DecisionFlow", "Default flow",
                {"key": "default", "isDefault": True, "status": "draft",
                 "nodes": [{"id": "inv", "type": "inventory", "phase": 1,
                            "config": {"categories": ["Credit Cards", "Loans"]}},
                           {"id": "q", "type": "qualify", "phase": 2,
                            "config": {"mode": "selected", "rules": ["Adults only"]}},
                           {"id": "rank", "type": "rank", "phase": 3,
                            "config": {"method": "top_n", "maxCandidates": 3}}]}),
        _create("DecisionFlow", "Fallback flow",
                {"key": "fallback", "isDefault": False, "status": "draft",
                 "nodes": [{"id": "call", "type": "call_flow", "phase": 1, "config": {"flow": "Default flow"}}]}),
    ]
    return _plan("pln_7f3a9c2e1b", diffs)


def _update(kind: str, name: str, fields: list[str], before: dict, after: dict) -> dict:
    return {"kind": kind, "name": name, "op": "update", "changedFields": fields, "before": before, "after": after}


def _unchanged(kind: str, name: str, spec: dict) -> dict:
    body = _res(kind, name, spec)
    return {"kind": kind, "name": name, "op": "unchanged", "changedFields": [], "before": body, "after": body}


def prune_plan() -> dict:
    """Updates with nested paths and list changes, unchanged resources, and two deletes (prune)."""
    tags_before = [f"tag-{i:02d}" for i in range(12)]
    tags_after = ["new-first", *tags_before[:5], *tags_before[6:], "tag-12"]
    nodes_before = [
        {"id": "inv", "type": "inventory", "phase": 1, "config": {"categories": ["Credit Cards"]}},
        {"id": "q", "type": "qualify", "phase": 2, "config": {"mode": "selected", "rules": ["Adults only"]}},
        {"id": "rank", "type": "rank", "phase": 3, "config": {"method": "top_n", "maxCandidates": 3}},
    ]
    nodes_after = [
        nodes_before[0],
        {"id": "q", "type": "qualify", "phase": 2, "config": {"mode": "selected", "rules": ["Residents only"]}},
        {"id": "rank", "type": "rank", "phase": 3, "config": {"method": "top_n", "maxCandidates": 5}},
    ]
    diffs = [
        _unchanged("Category", "Credit Cards", {"icon": "credit-card", "ordinal": 1, "status": "active"}),
        _update("Channel", "Email", ["spec.providerConfig.apiKey", "spec.providerConfig.region"],
                _res("Channel", "Email", {"channelType": "email",
                                          "providerConfig": {"apiKey": "(sensitive)", "region": "eu"}}),
                _res("Channel", "Email", {"channelType": "email",
                                          "providerConfig": {"apiKey": "(sensitive, changed)", "region": "us"}})),
        _update("Offer", "Gold Card",
                ["spec.priority", "metadata.labels.tier", "spec.budget.dailyCapCents", "spec.tags",
                 "spec.schedule"],
                _res("Offer", "Gold Card", {"category": "Credit Cards", "priority": 50, "tags": tags_before,
                                            "budget": {"dailyCapCents": 100000, "lifetimeCapCents": 9000000}},
                     labels={"tier": "gold", "team": "cards"}),
                _res("Offer", "Gold Card", {"category": "Credit Cards", "priority": 60, "tags": tags_after,
                                            "budget": {"dailyCapCents": 150000, "lifetimeCapCents": 9000000},
                                            "schedule": {"startDate": "2027-01-01", "endDate": None}},
                     labels={"team": "cards"})),
        _unchanged("Offer", "Silver Card", {"category": "Credit Cards", "priority": 30}),
        _update("Offer", "Bronze | `Basic` Card", ["spec.shortDesc"],
                _res("Offer", "Bronze | `Basic` Card", {"shortDesc": "Simple card"}),
                _res("Offer", "Bronze | `Basic` Card", {"shortDesc": "Simple card | no fee\nApply today"})),
        _update("DecisionFlow", "Default flow", ["spec.nodes[1].config.rules[0]", "spec.nodes[2].config"],
                _res("DecisionFlow", "Default flow", {"key": "default", "nodes": nodes_before}),
                _res("DecisionFlow", "Default flow", {"key": "default", "nodes": nodes_after})),
        {"kind": "Creative", "name": "Legacy Card — Email", "op": "delete", "changedFields": [],
         "before": _res("Creative", "Legacy Card — Email", {"offer": "Legacy Card", "channel": "Email"}),
         "after": None},
        {"kind": "Offer", "name": "Legacy Card", "op": "delete", "changedFields": [],
         "before": _res("Offer", "Legacy Card", {"category": "Credit Cards", "priority": 10}), "after": None},
    ]
    return _plan("pln_0c4d5e6f7a", diffs, prune=True)


def empty_plan() -> dict:
    diffs = [_unchanged("Category", "Credit Cards", {"icon": "credit-card"}),
             _unchanged("Offer", "Gold Card", {"priority": 60})]
    return _plan("pln_empty00001", diffs)


def drift_report() -> dict:
    drift = [
        {"kind": "Offer", "name": "Gold Card", "status": "changed",
         "changedFields": ["spec.priority", "spec.tags"],
         "before": _res("Offer", "Gold Card", {"priority": 60, "tags": ["a", "b", "c", "d"]}),
         "after": _res("Offer", "Gold Card", {"priority": 75, "tags": ["a", "b", "c", "d", "e"]})},
        {"kind": "ContactPolicy", "name": "Max 3 a week", "status": "changed",
         "changedFields": ["spec.config.maxPerWeek"]},
        {"kind": "Offer", "name": "Silver Card", "status": "deleted", "changedFields": []},
        {"kind": "Channel", "name": "Push UI <beta> & `test`", "status": "unmanaged", "changedFields": []},
    ]
    return {
        "formatVersion": "1.0",
        "tenant": "acme",
        "database": "sqlite:///decisionform.db",
        "createdAt": "2026-12-04T06:00:00Z",
        "drift": drift,
        "summary": {"changed": 2, "deleted": 1, "unmanaged": 1},
    }


def big_plan(creates: int = 10_000, updates: int = 5_000, deletes: int = 5_000, unchanged: int = 250) -> dict:
    """A plan of creates + updates + deletes (+ unchanged), in execution order."""
    diffs: list[dict] = []
    for i in range(creates):
        diffs.append(_create("Offer", f"Offer {i:05d} ☕ & | co", {"category": "Credit Cards", "priority": i % 101,
                                                                  "tags": ["bulk", f"t{i % 7}"]}))
    for i in range(updates):
        diffs.append(_update("Creative", f"Creative {i:05d}", ["spec.weight", "spec.content.subject"],
                             _res("Creative", f"Creative {i:05d}", {"weight": 50, "content": {"subject": "Hi"}}),
                             _res("Creative", f"Creative {i:05d}", {"weight": 60, "content": {"subject": "Hello"}})))
    for i in range(unchanged):
        diffs.append(_unchanged("Category", f"Category {i:04d}", {"ordinal": i}))
    for i in range(deletes):
        diffs.append({"kind": "Channel", "name": f"Channel {i:05d} — ünïcode", "op": "delete", "changedFields": [],
                      "before": _res("Channel", f"Channel {i:05d} — ünïcode", {"channelType": "email"}),
                      "after": None})
    return _plan("pln_big0000001", diffs, prune=True)
