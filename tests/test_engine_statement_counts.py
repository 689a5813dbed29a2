"""No query per resource: plan and apply issue a bounded number of statements.

The bound is the same for the Northwind bundle and for one with many more
resources of every kind: reads are one query per table, writes one batch per
kind and operation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import yaml_rs

from decisionform.bundle.load import load_bundle_text
from decisionform.engine import Engine, Settings
from decisionform.providers import driver
from support import NORTHWIND


def _grown(extra: int) -> str:
    """Northwind plus ``extra`` copies of each offer, creative, rule, policy, profile and flow."""
    doc = yaml_rs.loads(NORTHWIND.read_text(), parse_datetime=False)
    resources = doc["resources"]
    clones = []
    for i in range(extra):
        for r in resources:
            if r["kind"] in ("Category", "SubCategory", "Channel"):
                continue
            c = copy.deepcopy(r)
            c["metadata"]["name"] = f"{r['metadata']['name']} #{i}"
            c["metadata"].pop("annotations", None)
            if c["kind"] in ("ArbitrationProfile", "DecisionFlow"):
                c["spec"]["key"] = f"{c['spec']['key']}-{i}"
            if c["kind"] == "DecisionFlow":
                c["spec"]["isDefault"] = False
            clones.append(c)
    doc["resources"] = resources + clones
    return yaml_rs.dumps(doc)


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):
        # The lease is renewed on a timer (every TTL/3), not per resource: leave it out.
        if not (statement.lstrip().upper().startswith("UPDATE") and "gitops_locks" in statement):
            statements.append(statement.split()[0].upper())

    # the driver's listeners see both paths: plans read on the driver, applies write through SQLAlchemy
    with driver.listening(lambda statement: count(None, None, statement, None, None, False)):
        yield statements


def _plan_apply_counts(db_url: str, text: str) -> tuple[int, int, int, int]:
    engine = Engine(Settings(database_url=db_url, tenant="acme"))
    try:
        engine.upgrade()
        engine.create_tenant("acme")
        bundle = load_bundle_text(text, filename="bundle.yaml")
        with counting(engine) as plan_stmts:
            plan = engine.plan(bundle, engine.options())
        with counting(engine) as apply_stmts:
            engine.apply_plan(plan)
        assert plan.summary()["created"] == len(bundle.resources)
        with counting(engine) as replan_stmts:
            again = engine.plan(bundle, engine.options())
        assert not again.has_changes
        changed = load_bundle_text(text.replace("priority: 8", "priority: 9"), filename="bundle.yaml")
        update_plan = engine.plan(changed, engine.options())
        assert update_plan.summary()["updated"] > 0
        with counting(engine) as update_stmts:
            engine.apply_plan(update_plan)
        return len(plan_stmts), len(apply_stmts), len(replan_stmts), len(update_stmts)
    finally:
        engine.close()


def test_statement_counts_do_not_grow_with_resources(new_db_url, backend: str) -> None:
    small = _plan_apply_counts(new_db_url(), NORTHWIND.read_text())
    large = _plan_apply_counts(new_db_url(), _grown(20))
    assert small == large, f"statements (plan, apply, replan, update) small={small} large={large}"
    plan, apply, _, _update = small
    assert 12 <= plan <= 16, plan  # one query per table, plus tenant and state
    assert apply <= 40, apply  # lock, reads, one batch per kind and op, state, audit
