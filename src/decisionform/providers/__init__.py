"""The live side: the SQL database a tenant's configuration lives in.

``schema`` generates one table per kind from the registry (plus tenants,
placements, audit, state, locks, drift); ``migrations`` is its frozen Alembic
history; ``database`` owns the engine, transactions, error translation and
tenants; ``live`` reads a tenant's rows in bulk with references turned from
ids into names, and ``writes`` turns names back into ids and applies
changes with a fixed number of statements.
"""
