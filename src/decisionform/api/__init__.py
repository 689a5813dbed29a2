"""The HTTP API (DESIGN §7): FastAPI routes over the same ``Engine`` the CLI calls.

``app.create_app`` builds a stateless app (every worker or replica shares the
database; the tenant lease keeps two of them from applying one tenant at
once). ``auth`` turns ``X-API-Key`` (or, behind a trusted proxy,
``X-Tenant-Id``) into a tenant and a role; ``routes`` are thin: read the body,
call the engine in a worker thread, return its documents; ``errors`` maps the
one exception hierarchy to statuses and the ``{"error": {code, message,
details}}`` envelope; ``logs`` writes one JSON line per request.
"""
