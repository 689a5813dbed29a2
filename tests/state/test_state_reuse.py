"""An apply reuses the state its plan was made from only while the state has not moved.

The state document holds every resource's body (megabytes at 10,000 resources), so an
apply made in the process that planned it does not read and decode it a second time; a
state that moved in between (another apply) is read again and the plan refused as stale.
"""

from __future__ import annotations

import pytest

from decisionform.bundle.load import load_bundle_text
from decisionform.engine import Engine, Settings
from decisionform.errors import StalePlanError
from decisionform.providers import driver

BUNDLE = """
resources:
  - kind: Category
    metadata: {name: Cards}
    spec: {description: one}
"""


def _engine(url: str) -> Engine:
    return Engine(Settings(database_url=url, tenant="acme"))


def _applied(url: str) -> Engine:
    """A database with tenant acme and BUNDLE applied (state serial 1)."""
    engine = _engine(url)
    engine.upgrade()
    engine.create_tenant("acme")
    engine.apply_plan(engine.plan(load_bundle_text(BUNDLE), engine.options()))
    return engine


def test_apply_of_a_fresh_plan_does_not_read_the_document_again(db_url: str) -> None:
    first = _applied(db_url)
    engine = _engine(db_url)
    plan = engine.plan(load_bundle_text(BUNDLE.replace("one", "two")), engine.options())
    seen: list[str] = []
    with driver.listening(seen.append):
        result = engine.apply_plan(plan)
    assert result.applied and result.serial == 2
    state_reads = [s for s in seen if s.lstrip().upper().startswith("SELECT") and "gitops_state" in s]
    assert state_reads, seen
    assert all("document" not in s for s in state_reads), state_reads  # serial and lineage only
    assert engine.pull_state().resources["Category.Cards"].spec["description"] == "two"
    first.close()
    engine.close()


def test_a_state_that_moved_after_the_plan_is_read_again_and_refuses(db_url: str) -> None:
    setup = _applied(db_url)
    slow = _engine(db_url)
    plan = slow.plan(load_bundle_text(BUNDLE.replace("one", "two")), slow.options())
    other = _engine(db_url)  # another apply lands between the plan and its apply
    other.apply_plan(other.plan(load_bundle_text(BUNDLE.replace("one", "three")), other.options()))
    with pytest.raises(StalePlanError, match="state serial moved"):
        slow.apply_plan(plan)
    assert slow.pull_state().serial == 2
    for e in (setup, slow, other):
        e.close()
