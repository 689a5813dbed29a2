"""Alembic migrations of the live schema, run in code by ``Database.upgrade()``."""
