"""Provider fixtures: a tenant, the Northwind resources, a write/read helper."""

from __future__ import annotations

import pytest
from provider_helpers import Live, load_northwind

from decisionform.bundle.model import Resource
from decisionform.providers.database import Database, create_tenant


@pytest.fixture(scope="session")
def northwind() -> list[Resource]:
    return load_northwind()


@pytest.fixture
def tenant(database: Database) -> str:
    """The id of a fresh tenant ``acme`` in ``database``."""
    with database.write() as conn:
        return create_tenant(conn, "acme")


@pytest.fixture
def live(database: Database, tenant: str) -> Live:
    return Live(database, tenant)
