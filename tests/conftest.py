"""Shared fixtures: a fresh, empty database per test, on SQLite and PostgreSQL.

``db_url`` is parametrised over both backends (test ids ``[sqlite]`` and
``[postgresql]``); ``database`` is an upgraded ``Database`` on it;
``new_db_url()`` makes further fresh databases of the same backend.
PostgreSQL tests get their own ``df_<random>`` database, dropped afterwards.
When the server is unreachable they are skipped with a loud reason, except
under CI (env ``CI`` set), where that is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from decisionform.providers.database import Database
from support import CliEnv

PG_HOST = os.environ.get("DECISIONFORM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("DECISIONFORM_TEST_PG_PORT", "5432"))
PG_USER = "postgres"
PG_ADMIN_DB = "test"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[psycopg.Connection]:
    """An autocommit connection to the ``test`` database, for CREATE/DROP DATABASE."""
    try:
        conn = psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_ADMIN_DB,
                               autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        cause = " ".join(str(exc).split())
        reason = f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable ({cause}); PostgreSQL tests NOT RUN"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with conn:
        yield conn


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases of ``backend``; all are dropped afterwards."""
    created: list[str] = []

    def make() -> str:
        name = f"df_{secrets.token_hex(6)}"
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        admin: psycopg.Connection = request.getfixturevalue("pg_admin")
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"

    yield make
    if created:
        admin = request.getfixturevalue("pg_admin")
        for name in created:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db_url(new_db_url: Callable[[], str]) -> str:
    """The URL of a fresh, empty database (``[sqlite]`` and ``[postgresql]``)."""
    return new_db_url()


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """An upgraded (schema at head) ``Database`` on ``db_url``."""
    db = Database(db_url)
    db.upgrade()
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def cli(db_url: str, tmp_path: Path) -> CliEnv:
    """A fresh, upgraded database (SQLite and PostgreSQL) with tenant ``acme``."""
    env = CliEnv(url=db_url, tenant="acme", cwd=tmp_path)
    env.ok("db", "upgrade")
    env.ok("tenant", "create", "acme")
    return env


# Re-exported for older imports (`from conftest import ...`); new code imports `support`.
from support import NORTHWIND, case_file  # noqa: E402, F401
