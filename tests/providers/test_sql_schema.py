"""The SQL schema is generated from the kinds registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Boolean, Float, Integer, String, Text
from sqlalchemy.dialects import postgresql, sqlite

from decisionform.bundle.kinds import KINDS, KindDef, RefPath
from decisionform.providers.schema import (
    COMMON_SPEC_FIELDS,
    KIND_TABLES,
    SPEC_COLUMNS,
    build_schema,
    metadata,
    placement_key,
    placement_ref,
    snake,
)
from decisionform.providers.writes import new_id

COMMON = ("id", "tenant_id", "name", "description", "status", "labels", "annotations", "version",
          "created_at", "updated_at", "deleted_at")


def test_every_kind_has_its_table_with_the_common_columns() -> None:
    for kind in KINDS:
        table = metadata.tables[kind.table]
        assert KIND_TABLES[kind.name] is table
        for column in COMMON:
            assert column in table.c, (kind.name, column)
        assert table.c.version.server_default is not None


def test_the_other_tables_exist() -> None:
    for name in ("tenants", "api_keys", "placements", "audit_logs", "gitops_state", "gitops_locks",
                 "drift_reports"):
        assert name in metadata.tables


def test_spec_fields_become_typed_snake_case_columns() -> None:
    offers = KIND_TABLES["Offer"].c
    assert isinstance(offers.priority.type, Integer)
    assert isinstance(offers.business_value.type, Float)
    assert isinstance(offers.mandatory.type, Boolean)
    assert isinstance(offers.tags.type, JSON)
    assert isinstance(offers.custom_fields.type, JSON)
    assert isinstance(offers.short_desc.type, Text)
    assert isinstance(KIND_TABLES["Channel"].c.channel_type.type, String)
    assert "sub_category_id" in offers
    assert "frequency_caps" in offers


def test_every_spec_field_has_a_home() -> None:
    for kind in KINDS:
        mapped = {c.key for c in SPEC_COLUMNS[kind.name]}
        fields = {info.alias or name for name, info in kind.spec_model.model_fields.items()}
        extra = {"placements"} if kind.name == "Channel" else set()
        assert mapped | set(COMMON_SPEC_FIELDS) | extra == fields, kind.name


def test_top_level_references_are_foreign_keys() -> None:
    def target(table: str, column: str) -> str:
        (fk,) = metadata.tables[table].c[column].foreign_keys
        return fk.target_fullname

    assert target("offers", "category_id") == "categories.id"
    assert target("offers", "sub_category_id") == "sub_categories.id"
    assert target("creatives", "offer_id") == "offers.id"
    assert target("creatives", "placement_id") == "placements.id"
    assert target("placements", "channel_id") == "channels.id"


def test_system_columns_are_not_spec_fields() -> None:
    for kind in KINDS:
        assert "metrics" in KIND_TABLES[kind.name].c
        assert "metrics" not in {c.column for c in SPEC_COLUMNS[kind.name]}


def test_names_are_unique_per_tenant_among_live_rows_only() -> None:
    for kind in KINDS:
        table = KIND_TABLES[kind.name]
        index = next(i for i in table.indexes if i.name == f"uq_{table.name}_tenant_id_name")
        assert index.unique
        assert [c.name for c in index.columns] == ["tenant_id", "name"]
        for dialect in ("sqlite", "postgresql"):
            assert str(index.dialect_options[dialect]["where"]) == f"{table.name}.deleted_at IS NULL"


def test_json_is_jsonb_on_postgresql_only() -> None:
    column = KIND_TABLES["Offer"].c.tags
    assert column.type.compile(dialect=postgresql.dialect()) == "JSONB"
    assert column.type.compile(dialect=sqlite.dialect()) == "JSON"


class SegmentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    description: str | None = None
    status: str = "active"
    offer: str = Field(min_length=1)
    sizeEstimate: int | None = None
    ruleTree: dict[str, object] = Field(default_factory=dict)


def test_a_new_kind_gets_its_table_from_its_declaration_alone() -> None:
    segment = KindDef("Segment", "segments", "segments", "seg", SegmentSpec, refs=(RefPath("offer", "Offer"),))
    schema = build_schema((*KINDS, segment))
    table = schema.metadata.tables["segments"]
    assert {"offer_id", "size_estimate", "rule_tree", "metrics", *COMMON} <= set(table.c.keys())
    (fk,) = table.c.offer_id.foreign_keys
    assert fk.target_fullname == "offers.id"
    assert new_id("Offer").startswith("off_")


def test_ids_are_prefixed_opaque_and_random() -> None:
    ids = {new_id("Creative") for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("crv_") and len(i) == 24 for i in ids)
    assert new_id("Placement").startswith("plc_")
    assert snake("customFields") == "custom_fields" and snake("subCategory") == "sub_category"
    assert placement_ref("Email", "Hero") == "Email/Hero"  # as bundles write it
    # the id maps' key keeps "/" in names apart: channel A + "B/C" is not channel A/B + "C"
    assert placement_key("A", "B/C") != placement_key("A/B", "C")
