"""Helpers of the provider tests: canonical resources, Northwind, write/read, statement counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml_rs
from sqlalchemy import Engine

from decisionform.bundle.kinds import KIND_BY_NAME
from decisionform.bundle.model import Resource, canonical_spec
from decisionform.providers import driver
from decisionform.providers.database import Database
from decisionform.providers.live import LiveSnapshot, Write, apply_writes, assign_ids, read_live
from decisionform.providers.schema import utcnow

# A copy of the shared Northwind example (all nine kinds), kept with the tests.
NORTHWIND = Path(__file__).parents[1] / "data" / "northwind.yaml"


def resource(kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None,
             annotations: dict[str, str] | None = None) -> Resource:
    """A canonical resource, as the bundle loader would produce it."""
    return Resource(kind, name, canonical_spec(KIND_BY_NAME[kind], spec), labels=labels or {},
                    annotations=annotations or {})


def load_northwind() -> list[Resource]:
    # The real loader is written elsewhere; this reads just enough of the file.
    data = yaml_rs.loads(NORTHWIND.read_text(encoding="utf-8"), parse_datetime=False)
    return [resource(doc["kind"], doc["metadata"]["name"], doc["spec"], doc["metadata"].get("labels"),
                     doc["metadata"].get("annotations")) for doc in data["resources"]]


@dataclass
class Live:
    """Write-then-read helpers bound to one database and tenant."""

    database: Database
    tenant: str

    def read(self, kinds: list[str] | None = None) -> LiveSnapshot:
        with self.database.read() as conn:
            return read_live(conn, self.tenant, kinds)

    def apply(self, writes: list[Write], now: datetime | None = None) -> None:
        with self.database.write() as conn:
            snapshot = read_live(conn, self.tenant)
            apply_writes(conn, self.tenant, writes, assign_ids(snapshot, writes), now or utcnow())

    def create(self, resources: list[Resource]) -> None:
        self.apply([Write("create", r.kind, r.name, r) for r in resources])

    def update(self, resources: list[Resource]) -> None:
        """Update each resource, guarded by the version read just before."""
        rows = self.read().rows
        self.apply([Write("update", r.kind, r.name, r, id=rows[r.address].id,
                          expected_version=rows[r.address].version) for r in resources])

    def delete(self, addresses: list[str]) -> None:
        rows = self.read().rows
        self.apply([Write("delete", rows[a].kind, rows[a].name, None, id=rows[a].id,
                          expected_version=rows[a].version) for a in addresses])


class StatementCounter:
    """Counts statements sent to the driver; an executemany counts once."""

    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.count += 1
        self.statements.append(statement)


@contextmanager
def count_statements(engine: Engine | None = None) -> Iterator[StatementCounter]:
    """Every statement sent, by SQLAlchemy (``engine``'s or any other) or on the driver itself."""
    counter = StatementCounter()
    with driver.listening(lambda statement: counter(None, None, statement)):
        yield counter
