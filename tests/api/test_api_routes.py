"""The routes of DESIGN §7 through the TestClient: export forms, body forms and caps, strict
query strings, the error envelope, the OpenAPI document and the access log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import yaml
from api_support import ApiEnv, LogCapture, make_client

from support import case_file

H12 = "H12-diff-dryrun-fidelity"
EXPORT = "/api/v1/gitops/export"


def test_export_forms_match_the_cli(api: ApiEnv) -> None:
    api.cli.ok("apply", str(case_file(H12, "base.yaml")), "--auto-approve")
    headers = api.headers("viewer")
    as_json = api.client.get(f"{EXPORT}?format=json", headers=headers)
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.headers["content-disposition"] == 'attachment; filename="decisionform-export-acme.json"'
    assert as_json.text == api.cli.ok("export", "--format", "json").out

    as_yaml = api.client.get(EXPORT, headers=headers)
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert as_yaml.headers["content-disposition"] == 'attachment; filename="decisionform-export-acme.yaml"'
    assert as_yaml.text == api.cli.ok("export", "--format", "yaml").out
    assert yaml.safe_load(as_yaml.text) == as_json.json()

    files_response = api.client.get(f"{EXPORT}?layout=files", headers=headers)
    files = api.ok(files_response)
    assert "content-disposition" not in files_response.headers
    assert files["manifest"]["tenant"] == "acme" and "manifest.yaml" in files["files"]
    assert "offers/gold-card.yaml" in files["files"]
    out = api.cli.cwd / "files"
    api.cli.ok("export", "--layout", "files", "--out", str(out))
    on_disk = {str(p.relative_to(out)): p.read_text() for p in out.rglob("*.yaml")}
    assert on_disk == files["files"]

    api.add_tenant("Ünïcode \"Co\"/x")
    weird = api.client.get(EXPORT, headers=api.headers("viewer", "Ünïcode \"Co\"/x"))
    assert weird.status_code == 200
    disposition = weird.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="decisionform-export-') and "filename*=UTF-8''" in disposition
    assert "/" not in disposition.split('"')[1]


def test_body_forms(api: ApiEnv) -> None:
    path = case_file(H12, "base.yaml")
    text = path.read_text()
    as_json = json.dumps(yaml.safe_load(text))
    expected = api.ok(api.diff(path))["diffs"]
    for body, ctype in ((text, "application/yaml"), (text, "text/yaml; charset=utf-8"), (text, "text/plain"),
                        (text, None), (as_json, "application/json"), (as_json, "text/plain"), (as_json, None),
                        (json.dumps({"yamlText": text}), "application/json"),
                        (json.dumps({"yamlText": text}), None)):
        assert api.ok(api.diff(body, ctype=ctype))["diffs"] == expected, ctype
    cases: list[tuple[str, str | None, str]] = [
        ("", "application/yaml", "empty"), ("", "application/json", "empty"), ("  \n", None, "empty"),
        ("{}", "application/json", "resources"), ("{}", "application/yaml", "resources"),
        ('{"yamlText": 5}', "application/json", "yamlText must be a string"),
        (json.dumps({"yamlText": text, "resources": []}), "application/json", "holds nothing else"),
        ('{"yamlText": "a", "yamlText": "b"}', "application/json", "duplicate key"),
        ("resources: [", "application/yaml", "<request body>:1:"), ("[1, 2", "application/json", "JSON"),
        # escapes that decode to what PostgreSQL or any encoder refuses: a 400, never a 500
        ('{"resources": [{"kind": "Category", "metadata": {"name": "C", "labels": {"x": "a\\u0000"}}}]}',
         "application/json", 'Category "C".metadata.labels.x: must not contain a NUL'),
        ('{"resources": [{"kind": "Category", "metadata": {"name": "C"}, "spec": {"description": "\\ud800"}}]}',
         "application/json", "lone surrogate"),
        ('resources: [{kind: Category, metadata: {name: C}, spec: {description: "a\\0"}}]', "application/yaml",
         "NUL"),
    ]
    for body, ctype, words in cases:
        error = api.error(api.diff(body, ctype=ctype), 400)
        assert words in error["message"], (body, error)
    secret = ("resources:\n  - kind: Channel\n    metadata: {name: Hook}\n    spec:\n      channelType: webhook\n"
              "      providerConfig: {url: https://example.test, token: '${env:HOME}'}\n")
    error = api.error(api.apply(secret, "dryRun=false", ctype="application/yaml"), 400)
    assert error["code"] == "env_reference_refused" and 'Channel "Hook"' in error["message"]
    assert "/root" not in json.dumps(error)


def test_body_cap_is_413(api: ApiEnv) -> None:
    body = case_file(H12, "base.yaml").read_bytes()
    with make_client(api.cli, api.database, max_body_bytes=len(body) - 1) as small:
        headers = {**api.headers(), "Content-Type": "application/yaml"}
        response = small.post("/api/v1/gitops/diff", content=body, headers=headers)
        assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the cap is counted while reading
            yield body[:100]
            yield body[100:]

        response = small.post("/api/v1/gitops/apply?dryRun=false", content=chunks(), headers=headers)
        assert response.status_code == 413
        assert small.post("/api/v1/gitops/diff", content=body[:-1], headers=headers).status_code == 200


def test_query_strings_are_strict(api: ApiEnv) -> None:
    body = case_file(H12, "base.yaml")
    before = api.snapshot()
    for query, code, word in (("dryrun=false", "unknown_parameter", "dryRun"),
                              ("dry_run=false", "unknown_parameter", "dryRun"),
                              ("dryRun=false&dryRun=false", "repeated_parameter", "dryRun"),
                              ("prune=yes", "bad_request", "prune"), ("kinds=Offr", "usage", "Offer")):
        error = api.error(api.apply(body, query), 400)
        assert error["code"] == code and word in error["message"], (query, error)
    assert api.ok(api.diff(body, "kinds=Offer&kinds=Category"))["options"]["kinds"] == ["Offer", "Category"]
    for url in (f"{EXPORT}?format=xml", f"{EXPORT}?layout=tree", f"{EXPORT}?fmt=json",
                "/api/v1/audit-logs?limit=0", "/api/v1/audit-logs?limit=5000", "/api/v1/audit-logs?limit=x",
                "/api/v1/audit-logs/verify?all=1"):
        api.error(api.client.get(url, headers=api.headers("admin")), 400)
    assert api.snapshot() == before


def test_every_error_is_an_envelope(api: ApiEnv) -> None:
    headers = api.headers("admin")
    assert api.error(api.client.get("/api/v1/nope", headers=headers), 404)["code"] == "not_found"
    for method in ("delete", "put", "patch"):  # audit rows cannot be changed through the API
        response = api.client.request(method.upper(), "/api/v1/audit-logs", headers=headers)
        assert api.error(response, 405)["code"] == "method_not_allowed"
    assert api.error(api.client.get("/api/v1/gitops/apply", headers=headers), 405)
    assert api.error(api.client.post("/api/v1/gitops/diff?kinds=Chanel", content=b"resources: []",
                                     headers=headers), 400)["code"] == "usage"


def test_openapi_describes_bundles_and_results(api: ApiEnv) -> None:
    doc = api.ok(api.client.get("/openapi.json"))
    assert {"/api/v1/gitops/export", "/api/v1/gitops/diff", "/api/v1/gitops/apply", "/api/v1/audit-logs",
            "/api/v1/audit-logs/verify", "/api/v1/cron/gitops-drift-check"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    assert {"Bundle", "PlanResult", "DiffEntry", "ErrorResponse", "FilesExport", "YamlTextBody"} <= set(schemas)
    assert "Bundle_OfferSpec" in schemas and "HTTPValidationError" not in schemas
    apply = doc["paths"]["/api/v1/gitops/apply"]["post"]
    assert set(apply["requestBody"]["content"]) == {"application/yaml", "application/json"}
    assert {"200", "400", "401", "403", "409", "413", "500"} <= set(apply["responses"]) and "422" not in apply[
        "responses"]
    refs = json.dumps(doc)
    assert "#/$defs/" not in refs


def test_access_log_is_json_and_keyless(api: ApiEnv) -> None:
    handler = LogCapture()
    loggers = [logging.getLogger(n) for n in ("decisionform.access", "decisionform.api")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        key = api.key("editor")
        api.client.get(EXPORT, headers={"X-API-Key": key, "X-Request-Id": "req-123"})
        api.client.get(EXPORT, headers={"X-API-Key": key + "x"})
        api.client.post("/api/v1/cron/gitops-drift-check", headers={"Authorization": "Bearer wrong-secret"})
        api.apply(case_file(H12, "base.yaml"), "dryRun=false")
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    docs: list[dict[str, Any]] = [json.loads(line) for line in handler.lines]
    access = [d for d in docs if d["logger"] == "decisionform.access"]
    assert len(access) == 4
    assert {k for k in access[0]} >= {"method", "path", "status", "tenant", "duration_ms", "request_id"}
    assert access[0]["request_id"] == "req-123" and access[0]["tenant"] == "acme" and access[0]["status"] == 200
    assert [d["status"] for d in access] == [200, 403, 401, 200]
    text = "\n".join(handler.lines)
    assert key not in text and key[:20] not in text and "wrong-secret" not in text and "Traceback" not in text
