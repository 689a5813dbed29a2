"""The floor: the work no plan can skip, run as its own process like the engine's commands.

1. read the bundle file and parse it with the fastest parser there is
   (yaml-rs for YAML, orjson for JSON) into Python objects;
2. read the tenant's rows in bulk: the tenant's id, then one
   ``SELECT * … WHERE tenant_id = ?`` per kind table, placements and the
   state row, every row fetched, JSON columns decoded with orjson.

Nothing else: no validation, no normalisation, no diff, no rendering.
Straight DB-API (sqlite3 / psycopg), not SQLAlchemy, so the floor stays a floor.

    python bench/floor.py BUNDLE DATABASE_URL TENANT
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

TABLES = ("categories", "sub_categories", "channels", "offers", "creatives", "qualification_rules",
          "contact_policies", "arbitration_profiles", "decision_flows", "placements", "gitops_state")


def parse(path: str) -> int:
    gc.disable()  # the parse makes only acyclic containers; the cyclic GC would just slow it (DESIGN §9)
    data = Path(path).read_bytes()
    if path.endswith(".json"):
        import orjson

        doc = orjson.loads(data)
    else:
        import yaml_rs

        doc = yaml_rs.loads(data.decode("utf-8"), parse_datetime=False)
    return len(doc["resources"])


def read_sqlite(path: str, tenant: str) -> tuple[int, int]:
    import sqlite3

    import orjson

    sqlite3.register_converter("JSON", orjson.loads)  # the JSON columns, decoded as the engine's reader does
    conn = sqlite3.connect(path, detect_types=sqlite3.PARSE_DECLTYPES)
    try:
        (tenant_id,) = conn.execute("SELECT id FROM tenants WHERE name = ?", (tenant,)).fetchone()
        rows = 0
        for table in TABLES:
            rows += len(conn.execute(f"SELECT * FROM {table} WHERE tenant_id = ?", (tenant_id,)).fetchall())
        return rows, 1 + len(TABLES)
    finally:
        conn.close()


def read_postgresql(url: str, tenant: str) -> tuple[int, int]:
    import orjson
    import psycopg
    from psycopg.types.json import set_json_loads

    set_json_loads(orjson.loads)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        (tenant_id,) = conn.execute("SELECT id FROM tenants WHERE name = %s", (tenant,)).fetchone()
        rows = 0
        for table in TABLES:
            rows += len(conn.execute(f"SELECT * FROM {table} WHERE tenant_id = %s", (tenant_id,)).fetchall())
        return rows, 1 + len(TABLES)


def main(argv: list[str]) -> int:
    bundle, url, tenant = argv
    resources = parse(bundle)
    if url.startswith("sqlite:///"):
        rows, statements = read_sqlite(url.removeprefix("sqlite:///"), tenant)
    else:
        rows, statements = read_postgresql(url, tenant)
    print(f"{resources} resources parsed, {rows} rows read")
    if counter := os.environ.get("DECISIONFORM_COUNT_STATEMENTS"):  # as the engine's hook reports
        Path(counter).write_text(f'{{"SELECT": {statements}}}')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
