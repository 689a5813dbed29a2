"""Database: URLs, transactions, error translation, tenants."""

from __future__ import annotations

import pytest
from provider_helpers import count_statements
from sqlalchemy import text

from decisionform.errors import DatabaseError, TenantError
from decisionform.providers.database import (
    Database,
    create_tenant,
    list_tenants,
    normalize_url,
    tenant_id,
)
from decisionform.providers.schema import tenants, utcnow


@pytest.mark.parametrize(("given", "driver"), [
    ("postgres://u:p@h:5432/db", "postgresql+psycopg"),
    ("postgresql://u@h/db", "postgresql+psycopg"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
    ("sqlite:///x.db", "sqlite"),
])
def test_urls_use_psycopg_3(given: str, driver: str) -> None:
    assert normalize_url(given).drivername == driver


def test_identity_has_no_credentials() -> None:
    db = Database("postgresql://alice:s3cret@db.example:6543/prod")
    assert db.identity() == "postgresql://db.example:6543/prod"
    assert "s3cret" not in repr(db) and "alice" not in db.identity()
    db.dispose()


def test_sqlite_identity_is_the_absolute_file(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database("sqlite:///rel.db")
    assert db.identity() == f"sqlite:///{tmp_path / 'rel.db'}"
    db.dispose()


def test_bad_url_is_a_database_error() -> None:
    with pytest.raises(DatabaseError, match="invalid database URL"):
        Database("not a url")


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql://postgres:hunter2@127.0.0.1:abc/x", "invalid database URL: the port is not a number"),
    ("mysql://x@y/z", "unsupported database 'mysql': use sqlite:///PATH or postgresql://"),
])
def test_url_mistakes_are_named(url: str, says: str) -> None:
    with pytest.raises(DatabaseError) as caught:
        Database(url)
    assert str(caught.value).startswith(says)
    assert "hunter2" not in str(caught.value)


def test_unreachable_server_is_a_database_error() -> None:
    db = Database("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(DatabaseError, match="database error") as err, db.read():
        pass
    assert isinstance(err.value.__cause__, Exception)
    db.dispose()


def test_write_commits_and_rolls_back(database: Database) -> None:
    with database.write() as conn:
        create_tenant(conn, "kept")
    with pytest.raises(RuntimeError), database.write() as conn:
        create_tenant(conn, "dropped")
        raise RuntimeError("boom")
    with database.read() as conn:
        assert [t.name for t in list_tenants(conn)] == ["kept"]


def test_tenants(database: Database) -> None:
    with database.write() as conn:
        new = create_tenant(conn, "acme")
        assert new.startswith("ten_")
        assert tenant_id(conn, "acme") == new
        with pytest.raises(TenantError, match="already exists"):
            create_tenant(conn, "acme")
        with pytest.raises(TenantError) as err:
            tenant_id(conn, "nope")
    assert str(err.value) == "unknown tenant 'nope'; create it with `decisionform tenant create nope`"


def test_driver_errors_keep_the_database_reason(database: Database) -> None:
    with database.write() as conn:
        create_tenant(conn, "acme")
    with pytest.raises(DatabaseError) as err, database.write() as conn:
        conn.execute(tenants.insert().values(id="ten_x", name="acme", created_at=utcnow()))
    assert "unique" in str(err.value).lower()
    assert err.value.__cause__ is not None


def test_trigger_message_survives(database: Database, backend: str) -> None:
    with database.write() as conn:
        if backend == "sqlite":
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON tenants WHEN NEW.name = 'Boom' "
                              "BEGIN SELECT RAISE(ABORT, 'injected failure for Boom'); END"))
        else:
            conn.execute(text("CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                              "IF NEW.name = 'Boom' THEN RAISE EXCEPTION 'injected failure for Boom'; "
                              "END IF; RETURN NEW; END $$"))
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON tenants FOR EACH ROW "
                              "EXECUTE FUNCTION boom()"))
    with pytest.raises(DatabaseError) as err, database.write() as conn:
        create_tenant(conn, "fine")
        create_tenant(conn, "Boom")
    assert "injected failure for Boom" in str(err.value)
    with database.read() as conn:
        assert list_tenants(conn) == []  # the whole transaction rolled back


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_reads_are_read_only_on_postgresql(database: Database) -> None:
    with pytest.raises(DatabaseError, match="read-only"), database.read() as conn:
        create_tenant(conn, "acme")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_sqlite_setup(database: Database) -> None:
    with database.read() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    with count_statements(database.engine) as counter, database.write():
        pass
    assert counter.statements == ["BEGIN IMMEDIATE"]
    with count_statements(database.engine) as counter, database.read():
        pass
    assert counter.statements == ["BEGIN"]


@pytest.mark.parametrize(("url", "user", "password", "host", "port", "database", "query"), [
    ("postgresql://us%3Aer:p%40ss%2Fw@db.example:6543/prod?sslmode=disable", "us:er", "p@ss/w", "db.example", 6543,
     "prod", {"sslmode": "disable"}),
    ("postgresql://alice@/prod?host=/var/run/postgresql", "alice", None, None, None, "prod",
     {"host": "/var/run/postgresql"}),
    ("postgres://bob@[::1]:5432/x", "bob", None, "::1", 5432, "x", {}),
    ("sqlite:////abs/path.db", None, None, None, None, "/abs/path.db", {}),
])
def test_urls_parse_and_render_back(url: str, user: str | None, password: str | None, host: str | None,
                                    port: int | None, database: str, query: dict[str, str]) -> None:
    parsed = normalize_url(url)
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database, parsed.query) == \
        (user, password, host, port, database, query)
    assert normalize_url(parsed.render()) == parsed  # what SQLAlchemy's engine is given names the same database


def test_an_unencoded_at_in_a_password_stays_in_the_password() -> None:
    parsed = normalize_url("postgresql://postgres:secr@tpass@127.0.0.1:5432/usr1")
    assert (parsed.password, parsed.host) == ("secr@tpass", "127.0.0.1")
    assert "tpass" not in Database("postgresql://postgres:secr@tpass@127.0.0.1:5432/usr1").identity()


def test_postgresql_connections_time_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from decisionform.providers import driver

    seen: dict[str, object] = {}

    def fake_connect(**kwargs: object) -> None:
        seen.update(kwargs)
        raise RuntimeError("stop here")

    import psycopg
    monkeypatch.setattr(psycopg, "connect", fake_connect)
    for url, timeout in (("postgresql://u@h/db", driver.CONNECT_TIMEOUT_S), ("postgresql://u@h/db?connect_timeout=3", "3")):
        with pytest.raises(RuntimeError):
            driver.connect(driver.parse_url(url))
        assert seen["connect_timeout"] == timeout
