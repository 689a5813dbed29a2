"""Issue 4: no secret value of the example bundle in any API response or server log line."""

from __future__ import annotations

import logging

from api_support import ApiEnv, LogCapture

from support import NORTHWIND

SECRETS = ("SG.REDACTED-EXAMPLE", "REDACTED-EXAMPLE")


def test_no_secret_in_api_responses_or_logs(api: ApiEnv) -> None:
    handler = LogCapture()
    loggers = [logging.getLogger(n) for n in ("decisionform", "decisionform.access", "decisionform.api")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        bodies = [api.diff(NORTHWIND).text, api.apply(NORTHWIND).text, api.apply(NORTHWIND, "dryRun=false").text]
        changed = NORTHWIND.read_text().replace("SG.REDACTED-EXAMPLE", "SG.REDACTED-EXAMPLE-ROTATED")
        bodies.append(api.diff(changed, ctype="application/yaml").text)
        bodies.append(api.apply(changed, "dryRun=false", ctype="application/yaml").text)
        broken = NORTHWIND.read_text().replace("priority: 80", "priority: 800")
        bodies.append(api.diff(broken, ctype="application/yaml").text)  # an error response
        headers = api.headers("admin")
        for route in ("/api/v1/gitops/export?format=json", "/api/v1/gitops/export?format=yaml",
                      "/api/v1/gitops/export?layout=files", "/api/v1/audit-logs?limit=1000"):
            response = api.client.get(route, headers=headers)
            assert response.status_code == 200, response.text[:500]
            bodies.append(response.text)
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert handler.lines, "expected access log lines"
    for blob in [*bodies, *handler.lines]:
        for secret in SECRETS:
            assert secret not in blob
    assert any("(sensitive" in b for b in bodies)
