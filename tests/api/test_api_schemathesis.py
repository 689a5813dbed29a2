"""Schemathesis against ``/openapi.json``: generated requests (valid and invalid) to every
operation, with an admin key and the cron secret, never get a 5xx. Bounded to a few seconds."""

from __future__ import annotations

from typing import Any

import schemathesis
from api_support import CRON_SECRET, ApiEnv
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from support import case_file

EXAMPLES = 8


def test_generated_requests_never_get_a_5xx(api: ApiEnv) -> None:
    api.cli.ok("apply", str(case_file("H12-diff-dryrun-fidelity", "base.yaml")), "--auto-approve")
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    headers = {"X-API-Key": api.key("admin"), "Authorization": f"Bearer {CRON_SECRET}"}
    failures: list[tuple[Any, ...]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                if case.headers:  # the caller is ours: no generated key or tenant header
                    case.headers = {k: v for k, v in case.headers.items()
                                    if k.lower() not in ("x-api-key", "x-tenant-id", "authorization")}
                response = case.call(headers=headers)
                if response.status_code >= 500 or "Traceback" in response.text:
                    failures.append((case.method, case.path, case.query, repr(case.body)[:500],
                                     response.status_code, response.text[:500]))

            try:
                check()
            except Unsatisfiable:  # an operation without parameters has no invalid request
                assert mode is GenerationMode.NEGATIVE
    assert failures == []
