"""No query per resource: statement counts do not grow with the bundle (DESIGN §9)."""

from __future__ import annotations

from provider_helpers import Live, count_statements, resource

from decisionform.bundle.kinds import KINDS
from decisionform.bundle.model import Resource
from decisionform.providers.database import Database, create_tenant
from decisionform.providers.live import Write, apply_writes, assign_ids, read_live
from decisionform.providers.schema import utcnow


def generated(n: int, edition: str = "") -> list[Resource]:
    """``n`` resources of every kind, with references of every sort."""
    out: list[Resource] = []
    for i in range(n):
        out += [
            resource("Category", f"Cat {i}", {"description": edition or None}),
            resource("SubCategory", f"Sub {i}", {"category": f"Cat {i}"}),
            resource("Channel", f"Chan {i}", {"channelType": "web", "description": edition or None, "placements": [
                {"name": "Hero", "slotType": "modal" if edition else "banner"}, {"name": "Side"},
                *([{"name": "Footer"}] if edition else [])]}),
            resource("Offer", f"Offer {i}", {"category": f"Cat {i}", "subCategory": f"Sub {i}",
                                              "priority": 60 if edition else 50}),
            resource("Creative", f"Creative {i}", {"offer": f"Offer {i}", "channel": f"Chan {i}",
                                                   "placement": "Hero", "templateType": "web_banner"}),
            resource("QualificationRule", f"Rule {i}", {
                "ruleType": "recency_check", "config": {"minDaysSinceLastImpression": 1},
                "scopes": [{"scope": "offer", "target": f"Offer {i}"},
                           {"scope": "placement", "target": f"Chan {i}/Side"}]}),
            resource("ContactPolicy", f"Policy {i}", {
                "ruleType": "mutual_exclusion", "description": edition or None,
                "config": {"excludeOffers": [f"Offer {i}", f"Offer {(i + 1) % n}"]}}),
            resource("ArbitrationProfile", f"Profile {i}", {"key": f"p{i}", "weights": {"clv": 1}}),
            resource("DecisionFlow", f"Flow {i}", {"key": f"f{i}", "description": edition or None, "nodes": [
                {"id": "inv", "type": "inventory", "config": {"offers": [f"Offer {i}"]}},
                {"id": "sc", "type": "score", "config": {"strategyProfile": f"Profile {i}"}},
                *([{"id": "call", "type": "call_flow", "config": {"flow": f"Flow {i - 1}"}}] if i else [])]}),
        ]
    return out


def measure(database: Database, tenant: str, writes_for) -> tuple[int, int]:
    """(statements of read_live, statements of apply_writes) in one write transaction."""
    with database.write() as conn:
        with count_statements(database.engine) as reads:
            snapshot = read_live(conn, tenant)
        writes = writes_for(snapshot)
        ids = assign_ids(snapshot, writes)
        with count_statements(database.engine) as applies:
            apply_writes(conn, tenant, writes, ids, utcnow())
    return reads.count, applies.count


def lifecycle_counts(database: Database, n: int) -> list[tuple[int, int]]:
    with database.write() as conn:
        tenant = create_tenant(conn, f"tenant-{n}")
    first, second = generated(n), generated(n, edition="v2")
    counts = [measure(database, tenant, lambda s: [Write("create", r.kind, r.name, r) for r in first])]

    def updates(snapshot):
        rows = snapshot.rows
        return [Write("update", r.kind, r.name, r, id=rows[r.address].id,
                      expected_version=rows[r.address].version) for r in second]

    def deletes(snapshot):
        return [Write("delete", row.kind, row.name, None, id=row.id, expected_version=row.version)
                for row in snapshot.rows.values()]

    counts.append(measure(database, tenant, updates))
    counts.append(measure(database, tenant, deletes))
    # the round trip held at every size
    assert Live(database, tenant).read().rows == {}
    return counts


def test_counts_do_not_grow_with_the_number_of_resources(database: Database) -> None:
    small, large = lifecycle_counts(database, 5), lifecycle_counts(database, 50)
    assert small == large
    reads = [r for r, _ in small]
    assert reads == [len(KINDS) + 1] * 3  # one query per kind table, one for placements


def test_northwind_counts(live: Live, northwind: list[Resource]) -> None:
    with live.database.write() as conn:
        with count_statements(live.database.engine) as reads:
            snapshot = read_live(conn, live.tenant)
        writes = [Write("create", r.kind, r.name, r) for r in northwind]
        ids = assign_ids(snapshot, writes)
        with count_statements(live.database.engine) as applies:
            apply_writes(conn, live.tenant, writes, ids, utcnow())
    assert reads.count == len(KINDS) + 1
    # one INSERT per kind, then placements: one SELECT (what is live) and one INSERT
    assert applies.count == len(KINDS) + 2
    with live.database.read() as conn, count_statements(live.database.engine) as reads:
        read_live(conn, live.tenant)
    assert reads.count == len(KINDS) + 1
