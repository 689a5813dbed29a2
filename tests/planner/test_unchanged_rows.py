"""A plan reads a row that equals the bundle's resource without normalising it again
(``providers/live.py``: same canonical JSON, same types). These tests pin what that
shortcut must never hide: a change of type (``true`` for ``1``), a value written
back differently by the database (a REAL column's ``420.0``), and empty values a
column holds by default, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil

from oob_helpers import change, changes, sql_update
from support import NORTHWIND, CliEnv

OFFER = "Platinum Travel Card"  # northwind.yaml: businessValue 420, customFields {annualFee: 450, ...}


def _applied(cli: CliEnv) -> None:
    shutil.copy(NORTHWIND, cli.cwd / "bundle.yaml")
    cli.ok("apply", "bundle.yaml", "--auto-approve")


def _plan(cli: CliEnv) -> dict:
    result = cli.run("plan", "bundle.yaml", "--format", "json")
    assert result.code == 0, result
    return result.json()


def test_a_value_of_another_type_is_a_change(cli: CliEnv) -> None:
    _applied(cli)
    # JSON true == 1 in Python; the plan must still see that 450 became true
    sql_update(cli.url, "Offer", OFFER, custom_fields={"annualFee": True, "rewardsProgram": "miles"})
    doc = _plan(cli)
    assert changes(doc) == [("update", "Offer", OFFER)]
    assert change(doc, "Offer", OFFER)["changedFields"] == ["spec.customFields.annualFee"]


def test_an_integral_float_in_a_real_column_is_the_same_number(cli: CliEnv) -> None:
    _applied(cli)
    sql_update(cli.url, "Offer", OFFER, business_value=420.0)
    assert changes(_plan(cli)) == []
    sql_update(cli.url, "Offer", OFFER, business_value=420.5)
    doc = _plan(cli)
    assert changes(doc) == [("update", "Offer", OFFER)]
    assert change(doc, "Offer", OFFER)["changedFields"] == ["spec.businessValue"]


def test_empty_values_in_the_database_read_as_absent(cli: CliEnv) -> None:
    _applied(cli)
    # the bundle has no eligibility and no metadata for this offer: {} and [] in the row are "absent"
    sql_update(cli.url, "Offer", OFFER, eligibility={}, tags=["travel", "premium", "miles"])
    assert changes(_plan(cli)) == []
    sql_update(cli.url, "Offer", OFFER, eligibility={"minAge": 21})
    doc = _plan(cli)
    assert change(doc, "Offer", OFFER)["changedFields"] == ["spec.eligibility.minAge"]  # the deepest path (compare.py)


def test_refresh_sees_a_value_of_another_type(cli: CliEnv) -> None:
    """Refresh reads rows against the state's digests the same way: a type change is drift."""
    _applied(cli)
    assert cli.run("refresh", "--detailed-exitcode").code == 0
    sql_update(cli.url, "Offer", OFFER, custom_fields={"annualFee": True, "rewardsProgram": "miles"})
    result = cli.run("refresh", "--format", "json", "--detailed-exitcode")
    assert result.code == 2, result
    drift = result.json()["drift"]
    assert [(d["kind"], d["name"], d["status"], d["changedFields"]) for d in drift] == [
        ("Offer", OFFER, "changed", ["spec.customFields.annualFee"])]


def test_export_keeps_the_conventional_key_order(cli: CliEnv) -> None:
    """Rows read without normalising keep the canonical key order in what users see."""
    _applied(cli)
    cli.ok("plan", "bundle.yaml")  # the shortcut path was taken; export must not depend on it
    text = cli.ok("export").out
    offer = text[text.index("name: Platinum Travel Card"):]
    spec = offer[offer.index("spec:"):]
    keys = [line.strip().split(":")[0] for line in spec.splitlines()[1:8]]
    # the Offer model's field order (specs.py), not the table's column order
    assert keys[:3] == ["category", "subCategory", "status"], keys
