"""End to end: ``decisionform serve --workers 2`` (uvicorn) as a subprocess on a free loopback
port, talked to over real HTTP — roles, H04's twenty concurrent alias bombs, H07's concurrent
applies across the two worker processes, the cron route and the JSON access log."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from support import CliEnv, case_file

ENTRY = Path(sys.executable).with_name("decisionform")
CRON = "e2e-cron-secret-0123456789abcdef"
H04, H07, H12 = "H04-alias-bomb", "H07-lock-contention", "H12-diff-dryrun-fidelity"
YAML = {"Content-Type": "application/yaml"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path
    cli: CliEnv

    def key(self, role: str) -> str:
        return self.cli.ok("apikey", "create", "--tenant", "acme", "--role", role, "--name", f"e2e-{role}").out.strip()

    def log_lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.strip()]

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(pid) for pid in children] or [self.proc.pid]

    def memory_kb(self, field: str) -> dict[int, int]:
        """``VmRSS`` (now) or ``VmHWM`` (peak) of each worker process."""
        out = {}
        for pid in self.workers():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    out[pid] = int(line.split()[1])
        return out


def _start(cli: CliEnv, *args: str) -> Iterator[Server]:
    port = _free_port()
    log = cli.cwd / f"server-{port}.log"
    env = {**os.environ, **cli.env(), "DECISIONFORM_CRON_SECRET": CRON}
    with log.open("wb") as sink:
        proc = subprocess.Popen([str(ENTRY), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                                env=env, cwd=cli.cwd, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{port}", log, cli)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx2.get(f"{server.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def server(cli: CliEnv) -> Iterator[Server]:
    yield from _start(cli, "--workers", "2", "--lock-timeout", "30s")


def _post(client: httpx2.Client, route: str, body: bytes, key: str, query: str = "") -> httpx2.Response:
    return client.post(f"/api/v1/gitops/{route}" + (f"?{query}" if query else ""), content=body,
                       headers={"X-API-Key": key, **YAML}, timeout=30)


def _priority(client: httpx2.Client, key: str) -> int:
    doc = client.get("/api/v1/gitops/export?format=json", headers={"X-API-Key": key}).json()
    return next(r["spec"]["priority"] for r in doc["resources"] if r["metadata"]["name"] == "Gold Card")


def test_real_server_end_to_end(server: Server) -> None:
    viewer, editor, admin = server.key("viewer"), server.key("editor"), server.key("admin")
    base = case_file(H12, "base.yaml").read_bytes()
    with httpx2.Client(base_url=server.base, timeout=30) as client:
        assert client.get("/api/v1/gitops/export").status_code == 401
        for query in ("format=yaml", "format=json", "layout=files"):
            assert client.get(f"/api/v1/gitops/export?{query}", headers={"X-API-Key": viewer}).status_code == 200
        assert _post(client, "diff", base, viewer).json()["summary"]["created"] == 3
        assert _post(client, "apply", base, viewer, "dryRun=false").status_code == 403
        dry = _post(client, "apply", base, editor)
        assert dry.status_code == 200 and dry.json()["dryRun"] is True
        assert client.get("/api/v1/gitops/export?format=json", headers={"X-API-Key": viewer}).json()[
            "resources"] == []
        real = _post(client, "apply", base, editor, "dryRun=false")
        assert real.status_code == 200 and real.json()["applied"] is True
        audit = client.get("/api/v1/audit-logs?action=gitops_apply", headers={"X-API-Key": admin}).json()
        assert [row["actor"] for row in audit] == ["e2e-editor"]

        _alias_bombs(server, client, editor)
        _concurrent_applies(server, client, editor)

        assert client.post("/api/v1/cron/gitops-drift-check").status_code == 401
        cron = client.post("/api/v1/cron/gitops-drift-check", headers={"Authorization": f"Bearer {CRON}"})
        assert cron.status_code == 200 and [t["tenant"] for t in cron.json()["tenants"]] == ["acme"]

    lines = server.log_lines()
    docs = [json.loads(line) for line in lines]  # every line of the server's output is JSON
    access = [d for d in docs if d.get("logger") == "decisionform.access"]
    assert len(access) > 30 and all(d["request_id"] and "duration_ms" in d for d in access)
    text = "\n".join(lines)
    for secret in (viewer, editor, admin, CRON):
        assert secret not in text
    assert "Traceback" not in text and '"status":500' not in text


def _alias_bombs(server: Server, client: httpx2.Client, editor: str) -> None:
    """H04 HTTP: a bomb answers 400 fast; twenty at once neither wedge nor bloat the worker."""
    ok = case_file(H04, "ok-anchors.yaml").read_bytes()
    assert _post(client, "apply", ok, editor, "dryRun=false").status_code == 200
    bomb = case_file(H04, "bomb.yaml").read_bytes()
    started = time.monotonic()
    response = _post(client, "diff", bomb, editor)
    assert response.status_code == 400 and "alias" in response.json()["error"]["message"]
    assert time.monotonic() - started < 2
    started = time.monotonic()
    assert client.get("/api/v1/gitops/export?format=json", headers={"X-API-Key": editor}).status_code == 200
    assert time.monotonic() - started < 1

    rss_before = server.memory_kb("VmRSS")

    def one(_: int) -> int:
        with httpx2.Client(base_url=server.base, timeout=10) as own:
            return _post(own, "diff", bomb, editor).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(one, range(20)))
    assert statuses == [400] * 20
    peaks = server.memory_kb("VmHWM")
    assert sum(peaks[pid] - rss for pid, rss in rss_before.items()) < 300 * 1024
    assert client.get("/api/v1/gitops/export?format=json", headers={"X-API-Key": editor}).status_code == 200
    assert _post(client, "apply", bomb, editor, "dryRun=false").status_code == 400


def _concurrent_applies(server: Server, client: httpx2.Client, editor: str) -> None:
    """H07 F: two applies at once and a diff alongside; then eight at once across both workers.
    The tenant lease serialises them (the server waits up to 30 s for it): no lost update."""
    cli = server.cli
    assert _post(client, "apply", case_file(H07, "base.yaml").read_bytes(), editor, "dryRun=false").status_code \
        == 200
    bodies = [case_file(H07, name).read_bytes() for name in ("bundle-a.yaml", "bundle-b.yaml")]
    with ThreadPoolExecutor(3) as pool:
        applies = [pool.submit(_post, client, "apply", body, editor, "dryRun=false") for body in bodies]
        diff = pool.submit(_post, client, "diff", bodies[0], editor)
        assert diff.result().status_code == 200
        _check_contention([f.result() for f in applies], _priority(client, editor))

    serial = cli.ok("state", "pull").json()["serial"]
    text = bodies[0].decode()
    eight = [text.replace("priority: 60", f"priority: {p}").encode() for p in range(61, 69)]

    def one(body: bytes) -> httpx2.Response:
        with httpx2.Client(base_url=server.base, timeout=60) as own:
            return _post(own, "apply", body, editor, "dryRun=false")

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(one, eight))
    _check_contention(responses, _priority(client, editor))
    applied = sum(1 for r in responses if r.status_code == 200 and r.json()["applied"])
    assert cli.ok("state", "pull").json()["serial"] == serial + applied
    assert "No locks held." in cli.ok("lock", "list").out


def _check_contention(responses: list[httpx2.Response], final: int) -> None:
    statuses = sorted(r.status_code for r in responses)
    assert 500 not in statuses and set(statuses) <= {200, 409}, [r.text for r in responses]
    winners: list[dict[str, Any]] = []
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] in ("locked", "stale_plan")
            continue
        gold = next(d for d in response.json()["diffs"] if d["name"] == "Gold Card")
        winners.append(gold)
    assert winners, "no apply succeeded"
    befores = [w["before"]["spec"]["priority"] for w in winners]
    afters = [w["after"]["spec"]["priority"] for w in winners]
    assert befores.count(50) <= 1, "two applies both planned against the original row"
    assert final in afters
