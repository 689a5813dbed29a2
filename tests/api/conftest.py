"""Fixtures of the HTTP API tests: ``api`` — a TestClient app on the ``cli`` fixture's fresh
database (SQLite and PostgreSQL), tenant ``acme``, keys made on demand per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import ApiEnv, make_client

from decisionform.providers.database import Database
from support import CliEnv


@pytest.fixture
def api(cli: CliEnv) -> Iterator[ApiEnv]:
    database = Database(cli.url)
    try:
        with make_client(cli, database) as client:
            yield ApiEnv(cli=cli, database=database, client=client)
    finally:
        database.dispose()
