"""Writing a bundle's resources and reading them back gives the same resources."""

from __future__ import annotations

from collections.abc import Callable

from provider_helpers import Live
from sqlalchemy import select, text

from decisionform.bundle.kinds import KIND_BY_NAME, KINDS
from decisionform.bundle.model import Resource
from decisionform.providers.database import Database, create_tenant
from decisionform.providers.schema import KIND_TABLES, placements


def test_northwind_round_trip(live: Live, northwind: list[Resource]) -> None:
    live.create(northwind)
    snapshot = live.read()
    assert snapshot.warnings == []
    assert set(snapshot.rows) == {r.address for r in northwind}
    for wanted in northwind:
        row = snapshot.rows[wanted.address]
        assert row.resource.body() == wanted.body(), wanted.address
        assert row.resource.digest() == wanted.digest()
        assert row.id.startswith(KIND_BY_NAME[wanted.kind].id_prefix + "_")
        assert row.version == 1
        assert row.updated_at is not None and row.updated_at.tzinfo is not None
    assert snapshot.deleted == {}
    assert snapshot.placement_ids[("Email", "Newsletter Hero")].startswith("plc_")


def test_ids_differ_between_databases(live: Live, northwind: list[Resource],
                                      new_db_url: Callable[[], str]) -> None:
    other = Database(new_db_url())
    try:
        other.upgrade()
        with other.write() as conn:
            other_live = Live(other, create_tenant(conn, "acme"))
        other_live.create(northwind)
        live.create(northwind)
        ours, theirs = live.read(), other_live.read()
        assert {a: r.resource.body() for a, r in ours.rows.items()} == \
            {a: r.resource.body() for a, r in theirs.rows.items()}
        assert not {r.id for r in ours.rows.values()} & {r.id for r in theirs.rows.values()}
    finally:
        other.dispose()


def test_references_are_stored_as_ids(live: Live, northwind: list[Resource]) -> None:
    live.create(northwind)
    ids = live.read().rows
    creatives, flows, policies = (KIND_TABLES[k] for k in ("Creative", "DecisionFlow", "ContactPolicy"))
    with live.database.read() as conn:
        creative = conn.execute(select(creatives).where(creatives.c.name == "Platinum Travel - Email Hero")).one()
        flow = conn.execute(select(flows.c.nodes).where(flows.c.name == "Monthly Email Campaign")).scalar_one()
        policy = conn.execute(select(policies.c.config)
                              .where(policies.c.name == "One Card Pitch At A Time")).scalar_one()
        placement = conn.execute(select(placements.c.id).where(placements.c.name == "Newsletter Hero")).scalar()
    assert creative.offer_id == ids["Offer.Platinum Travel Card"].id
    assert creative.channel_id == ids["Channel.Email"].id
    assert creative.placement_id == placement
    nodes = {n["id"]: n.get("config", {}) for n in flow}
    assert nodes["home"]["flow"] == ids["DecisionFlow.Web Homepage"].id
    assert nodes["opt"]["profile"].startswith("ap_")
    assert nodes["inv"]["subCategories"] == [ids["SubCategory.Premium Cards"].id,
                                             ids["SubCategory.Personal Loans"].id]
    assert nodes["cp"]["policies"][0].startswith("cp_")
    assert policy["excludeOffers"] == [ids["Offer.Platinum Travel Card"].id, ids["Offer.Student Starter Card"].id]
    assert "Platinum Travel Card" not in str(policy)


def test_channel_placements_keep_their_order(live: Live, northwind: list[Resource]) -> None:
    live.create(northwind)
    with live.database.write() as conn:  # reverse the stored order behind the engine's back
        conn.execute(text("UPDATE placements SET position = 10 - position"))
    channel = live.read().rows["Channel.Email"].resource
    assert [p["name"] for p in channel.spec["placements"]] == ["Newsletter Hero", "Statement Insert"]


def test_reading_some_kinds_still_names_references(live: Live, northwind: list[Resource]) -> None:
    live.create(northwind)
    snapshot = live.read(["Creative", "RankingProfile"])
    assert {r.kind for r in snapshot.rows.values()} == {"Creative", "ArbitrationProfile"}
    creative = snapshot.rows["Creative.Platinum Travel - Email Hero"].resource.spec
    assert (creative["offer"], creative["channel"], creative["placement"]) == \
        ("Platinum Travel Card", "Email", "Newsletter Hero")
    # ids of the referenced kinds are known, for the writes that need them
    assert "Platinum Travel Card" in snapshot.live_ids["Offer"]


def test_system_fields_never_reach_the_spec(live: Live, northwind: list[Resource]) -> None:
    live.create(northwind)
    with live.database.write() as conn:
        for kind in KINDS:
            conn.execute(KIND_TABLES[kind.name].update().values(metrics={"impressions": 12}))
    for row in live.read().rows.values():
        assert "metrics" not in row.resource.spec
    offer = live.read().rows["Offer.Travel Insurance Add-on"].resource.spec
    assert offer["metadata"] == {"partner": "Contoso Assurance"}  # the spec field, not the system column


def test_tenants_do_not_see_each_other(live: Live, northwind: list[Resource]) -> None:
    live.create(northwind)
    with live.database.write() as conn:
        other = Live(live.database, create_tenant(conn, "globex"))
    assert other.read().rows == {}
    other.create(northwind[:3])
    assert len(live.read().rows) == len(northwind)
