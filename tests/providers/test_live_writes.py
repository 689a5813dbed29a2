"""Updates, soft deletes and restores, stale plans, drifted rows."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from provider_helpers import Live, resource
from sqlalchemy import func, select, text

from decisionform.errors import DatabaseError, StalePlanError
from decisionform.providers.database import create_tenant
from decisionform.providers.live import Write, missing_marker
from decisionform.providers.schema import KIND_TABLES, placements, utcnow

offers = KIND_TABLES["Offer"]
CARDS = resource("Category", "Credit Cards", {"description": "Revolving credit"})
GOLD = resource("Offer", "Gold Card", {"category": "Credit Cards", "priority": 50})
SILVER = resource("Offer", "Silver Card", {"category": "Credit Cards", "priority": 40})
EMAIL = resource("Channel", "Email", {"channelType": "email", "placements": [
    {"name": "Newsletter Hero"}, {"name": "Statement Insert", "slotType": "inline"}]})


def with_spec(base, **changes):
    return resource(base.kind, base.name, {**base.spec, **changes}, base.labels, base.annotations)


def test_update_bumps_the_version(live: Live) -> None:
    live.create([CARDS, GOLD, SILVER])
    live.update([with_spec(GOLD, priority=90, tags=["gold"])])
    rows = live.read().rows
    assert rows["Offer.Gold Card"].version == 2
    assert rows["Offer.Gold Card"].resource.spec["priority"] == 90
    assert rows["Offer.Gold Card"].resource.spec["tags"] == ["gold"]
    assert rows["Offer.Silver Card"].version == 1
    assert rows["Offer.Gold Card"].updated_at > rows["Offer.Silver Card"].updated_at


def test_soft_delete_hides_the_row_and_a_create_restores_it(live: Live) -> None:
    live.create([CARDS, GOLD])
    gold_id = live.read().rows["Offer.Gold Card"].id
    live.delete(["Offer.Gold Card"])
    snapshot = live.read()
    assert "Offer.Gold Card" not in snapshot.rows
    assert snapshot.deleted == {"Offer.Gold Card": gold_id}
    with live.database.read() as conn:  # still there, marked deleted
        assert conn.execute(select(offers.c.deleted_at).where(offers.c.id == gold_id)).scalar() is not None
    live.create([with_spec(GOLD, priority=70)])
    row = live.read().rows["Offer.Gold Card"]
    assert (row.id, row.version, row.resource.spec["priority"]) == (gold_id, 3, 70)
    assert live.read().deleted == {}


def insert_offer(live: Live, row_id: str, name: str) -> None:
    """A row inserted by hand, as the platform's UI would."""
    with live.database.write() as conn:
        conn.execute(offers.insert().values(id=row_id, tenant_id=live.tenant, name=name, status="draft",
                                            created_at=utcnow(), updated_at=utcnow()))


def test_names_are_unique_among_live_rows(live: Live) -> None:
    live.create([CARDS, GOLD])
    with pytest.raises(DatabaseError, match=r"(?i)unique"):
        insert_offer(live, "off_second", "Gold Card")
    live.delete(["Offer.Gold Card"])
    insert_offer(live, "off_second", "Gold Card")  # a deleted name is free again
    with live.database.read() as conn:
        count = conn.execute(select(func.count()).select_from(offers).where(offers.c.name == "Gold Card"))
        assert count.scalar() == 2
    assert live.read().rows["Offer.Gold Card"].id == "off_second"


def test_unique_names_are_per_tenant(live: Live) -> None:
    with live.database.write() as conn:
        other = Live(live.database, create_tenant(conn, "globex"))
    live.create([CARDS])
    other.create([CARDS])
    assert live.read().rows["Category.Credit Cards"].id != other.read().rows["Category.Credit Cards"].id


def stale_writes(live: Live) -> list[Write]:
    rows = live.read().rows
    return [Write("create", "Offer", "Bronze Card", resource("Offer", "Bronze Card", {"category": "Credit Cards"})),
            Write("update", "Offer", "Gold Card", with_spec(GOLD, priority=60), id=rows["Offer.Gold Card"].id,
                  expected_version=rows["Offer.Gold Card"].version),
            Write("delete", "Offer", "Silver Card", None, id=rows["Offer.Silver Card"].id,
                  expected_version=rows["Offer.Silver Card"].version)]


@pytest.mark.parametrize("sane_rowcount", [True, False], ids=["rowcount", "select"])
def test_a_stale_update_changes_nothing(live: Live, sane_rowcount: bool, monkeypatch) -> None:
    monkeypatch.setattr(live.database.engine.dialect, "supports_sane_multi_rowcount", sane_rowcount)
    live.create([CARDS, GOLD, SILVER])
    writes = stale_writes(live)
    live.update([with_spec(GOLD, priority=90)])  # the UI, after the plan
    with pytest.raises(StalePlanError) as err:
        live.apply(writes)
    assert err.value.moved == ['Offer "Gold Card": changed since the plan (version 1 then, 2 now)']
    snapshot = live.read()
    assert "Offer.Bronze Card" not in snapshot.rows  # rolled back with the rest
    assert snapshot.rows["Offer.Gold Card"].resource.spec["priority"] == 90
    assert snapshot.rows["Offer.Silver Card"].version == 1


@pytest.mark.parametrize("how", ["soft", "hard"])
def test_a_delete_of_a_vanished_row_is_stale(live: Live, how: str) -> None:
    live.create([CARDS, GOLD, SILVER])
    writes = stale_writes(live)
    with live.database.write() as conn:
        gone = offers.c.name == "Silver Card"
        if how == "soft":
            conn.execute(offers.update().where(gone).values(deleted_at=utcnow(), version=offers.c.version + 1))
        else:
            conn.execute(offers.delete().where(gone))
    with pytest.raises(StalePlanError, match='Offer "Silver Card"') as err:
        live.apply(writes)
    expected = "deleted since the plan" if how == "soft" else "removed from the database since the plan"
    assert err.value.moved == [f'Offer "Silver Card": {expected}']
    assert live.read().rows["Offer.Gold Card"].version == 1


def test_a_hard_deleted_reference_reads_with_a_warning(live: Live) -> None:
    policy = resource("ContactPolicy", "One At A Time", {
        "ruleType": "mutual_exclusion", "config": {"excludeOffers": ["Gold Card", "Silver Card"]}})
    live.create([CARDS, GOLD, SILVER, policy])
    silver_id = live.read().rows["Offer.Silver Card"].id
    with live.database.write() as conn:
        conn.execute(offers.delete().where(offers.c.id == silver_id))
    snapshot = live.read()
    spec = snapshot.rows["ContactPolicy.One At A Time"].resource.spec
    assert spec["config"]["excludeOffers"] == ["Gold Card", missing_marker("Offer", silver_id)]
    assert spec["config"]["excludeOffers"][1] == f"<missing Offer {silver_id}>"
    (warning,) = snapshot.warnings
    assert 'ContactPolicy "One At A Time".spec.config.excludeOffers[]' in warning and silver_id in warning


def test_a_soft_deleted_reference_reads_by_name_with_a_warning(live: Live) -> None:
    live.create([CARDS, GOLD])
    with live.database.write() as conn:
        conn.execute(KIND_TABLES["Category"].update().values(deleted_at=utcnow()))
    snapshot = live.read()
    assert snapshot.rows["Offer.Gold Card"].resource.spec["category"] == "Credit Cards"
    assert snapshot.warnings == ['Offer "Gold Card".spec.category: refers to Category "Credit Cards", '
                                 "which is deleted"]


def test_a_row_that_breaks_the_spec_reads_as_stored(live: Live) -> None:
    live.create([CARDS, GOLD])
    with live.database.write() as conn:
        conn.execute(offers.update().values(priority=500))
    snapshot = live.read()
    assert snapshot.rows["Offer.Gold Card"].resource.spec["priority"] == 500
    (warning,) = snapshot.warnings
    assert warning.startswith('Offer "Gold Card".spec.priority: the live row does not match the spec')


def test_rows_the_ui_inserted_read_back(live: Live) -> None:
    live.create([CARDS])
    category_id = live.read().rows["Category.Credit Cards"].id
    with live.database.write() as conn:  # only the columns a hand-written INSERT would give
        conn.execute(text("INSERT INTO offers (id, tenant_id, name, status, category_id) "
                          "VALUES ('off_byhand', :tenant, 'Hand Made', 'active', :category)"),
                     {"tenant": live.tenant, "category": category_id})
    row = live.read().rows["Offer.Hand Made"]
    assert row.version == 1 and row.updated_at is not None
    assert row.resource.spec == {"category": "Credit Cards", "status": "active", "priority": 50,
                                 "mandatory": False}


def test_placements_follow_the_channel(live: Live) -> None:
    creative = resource("Creative", "Gold Hero", {"offer": "Gold Card", "channel": "Email",
                                                  "placement": "Statement Insert", "templateType": "email_html"})
    rule = resource("QualificationRule", "Hero Only", {
        "ruleType": "recency_check", "config": {"minDaysSinceLastImpression": 3},
        "scopes": [{"scope": "placement", "target": "Email/Statement Insert"}]})
    live.create([CARDS, GOLD, EMAIL, creative, rule])
    before = live.read()
    kept_id = before.placement_ids[("Email", "Statement Insert")]
    with live.database.read() as conn:
        scopes = conn.execute(select(KIND_TABLES["QualificationRule"].c.scopes)).scalar_one()
    assert scopes == [{"scope": "placement", "target": kept_id}]
    assert before.rows["QualificationRule.Hero Only"].resource.spec["scopes"][0]["target"] == \
        "Email/Statement Insert"
    # reorder, change one, drop one, add one
    live.update([with_spec(EMAIL, placements=[{"name": "Statement Insert", "slotType": "modal"},
                                              {"name": "Footer"}])])
    after = live.read()
    assert after.warnings == []
    assert after.placement_ids[("Email", "Statement Insert")] == kept_id
    assert ("Email", "Newsletter Hero") not in after.placement_ids
    assert [p["name"] for p in after.rows["Channel.Email"].resource.spec["placements"]] == \
        ["Statement Insert", "Footer"]
    assert after.rows["Creative.Gold Hero"].resource.spec["placement"] == "Statement Insert"
    with live.database.read() as conn:
        rows = {r.name: r for r in conn.execute(select(placements))}
    assert rows["Statement Insert"].version == 2 and rows["Statement Insert"].position == 0
    assert rows["Newsletter Hero"].deleted_at is not None


def test_deleting_a_channel_soft_deletes_its_placements(live: Live) -> None:
    live.create([EMAIL])
    live.delete(["Channel.Email"])
    with live.database.read() as conn:
        assert all(r.deleted_at is not None for r in conn.execute(select(placements)))
    assert live.read().placement_ids == {}
    live.create([EMAIL])  # restored, with fresh placements
    assert len(live.read().placement_ids) == 2


def test_an_unknown_reference_names_referrer_and_field(live: Live) -> None:
    stray = resource("Offer", "Stray", {"category": "Nowhere"})
    with pytest.raises(DatabaseError) as err:
        live.create([stray])
    assert str(err.value) == ('Offer "Stray".spec.category: Category "Nowhere" is neither written by this '
                              "plan nor live in the database")
    assert live.read().rows == {}


def test_writes_never_mutate_the_resources(live: Live, northwind) -> None:
    before = copy.deepcopy([r.body() for r in northwind])
    live.create(northwind)
    live.update(northwind)
    assert [r.body() for r in northwind] == before


def test_naive_timestamps_are_utc(live: Live) -> None:
    moment = datetime(2026, 5, 1, 12, 30, 15, 123456)
    live.apply([Write("create", "Category", "Credit Cards", CARDS)], now=moment)
    assert live.read().rows["Category.Credit Cards"].updated_at == moment.replace(tzinfo=UTC)


def install_boom_trigger(live: Live, backend: str) -> None:
    """DESIGN's H06 fault: inserting the Offer "Boom Offer" fails inside the database."""
    with live.database.write() as conn:
        if backend == "sqlite":
            conn.execute(text("CREATE TRIGGER df_fail_boom BEFORE INSERT ON offers WHEN NEW.name = 'Boom Offer' "
                              "BEGIN SELECT RAISE(ABORT, 'injected failure for Boom Offer'); END"))
            return
        conn.execute(text("CREATE FUNCTION df_fail_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                          "IF NEW.name = 'Boom Offer' THEN RAISE EXCEPTION 'injected failure for Boom Offer'; "
                          "END IF; RETURN NEW; END $$"))
        conn.execute(text("CREATE TRIGGER df_fail_boom BEFORE INSERT ON offers FOR EACH ROW "
                          "EXECUTE FUNCTION df_fail_boom()"))


def test_a_failing_statement_rolls_back_everything(live: Live, backend: str) -> None:
    live.create([CARDS])
    install_boom_trigger(live, backend)
    writes = [Write("update", "Category", "Credit Cards", with_spec(CARDS, description="Cards for 2026"),
                    id=live.read().rows["Category.Credit Cards"].id, expected_version=1)]
    writes += [Write("create", "Offer", name, resource("Offer", name, {"category": "Credit Cards"}))
               for name in ("Alpha Offer", "Beta Offer", "Boom Offer")]
    with pytest.raises(DatabaseError) as err:
        live.apply(writes)
    assert "injected failure for Boom Offer" in str(err.value)
    assert "Traceback" not in str(err.value) and "INSERT" not in str(err.value)
    snapshot = live.read()
    assert set(snapshot.rows) == {"Category.Credit Cards"}
    assert snapshot.rows["Category.Credit Cards"].resource.spec["description"] == "Revolving credit"


def test_a_placement_of_another_channel_is_reported(live: Live) -> None:
    web = resource("Channel", "Web", {"channelType": "web", "placements": [{"name": "Newsletter Hero"}]})
    creative = resource("Creative", "Gold Hero", {"offer": "Gold Card", "channel": "Email",
                                                  "placement": "Newsletter Hero", "templateType": "email_html"})
    live.create([CARDS, GOLD, EMAIL, web, creative])
    web_hero = live.read().placement_ids[("Web", "Newsletter Hero")]
    with live.database.write() as conn:  # the UI points the creative at the other channel's slot
        conn.execute(KIND_TABLES["Creative"].update().values(placement_id=web_hero))
    snapshot = live.read()
    assert snapshot.rows["Creative.Gold Hero"].resource.spec["placement"] == "Newsletter Hero"
    assert snapshot.warnings == ['Creative "Gold Hero".spec.placement: placement "Newsletter Hero" belongs '
                                 'to Channel "Web", not "Email"']
