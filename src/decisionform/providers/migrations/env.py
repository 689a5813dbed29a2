"""Alembic environment: always run in code, on the caller's connection.

``Database.upgrade()`` builds the config and puts the open connection in
``config.attributes["connection"]``; there is no alembic.ini and no offline
(SQL script) mode.
"""

from __future__ import annotations

from alembic import context

from decisionform.providers.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("decisionform migrations run through Database.upgrade(), on an open connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    compare_type=True,
    # SQLite alters tables by copying them; batch mode does that for us.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
