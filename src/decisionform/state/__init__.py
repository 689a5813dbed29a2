"""State: what the engine last applied, per tenant.

``model`` is the document (lineage, serial, resources by address);
``backends`` keep it in the database (written in the apply's transaction) or
in a JSON file (written atomically after the commit); ``locks`` are per-tenant
leases; ``drift`` compares state with the live database.
"""
